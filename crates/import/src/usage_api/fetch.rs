//! Following a report's pages to the end, over any transport.
//!
//! The caller supplies `get`, which sends one [`Request`] (base URL and credential are its
//! business) and answers a [`Reply`]. The driver reads each page, follows `next_page` while
//! `has_more` is true, and stops with an error on an error status ([`ProviderError`], with
//! its `retry-after`), a malformed page, a cursor that comes back (the pages would loop), or
//! more than `max_pages` pages. It never retries and never sleeps: retrying a rate-limited or
//! failed page is the caller's policy (inside `get`, or by calling again).

use std::collections::HashSet;
use std::future::Future;

use super::{Page, ProviderError, Request, UsageApiError};

/// What the transport got back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// The `retry-after` header in seconds, when present.
    pub retry_after_s: Option<u64>,
    pub body: String,
}

/// Every page of `first`, in order. See the module docs for when it stops with an error.
pub async fn fetch_all<R, F, Fut, E>(
    first: Request<R>,
    max_pages: usize,
    mut get: F,
) -> Result<Vec<Page<R>>, UsageApiError>
where
    F: FnMut(Request<R>) -> Fut,
    Fut: Future<Output = Result<Reply, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let endpoint = first.endpoint();
    let mut followed: HashSet<String> = first.page().map(str::to_owned).into_iter().collect();
    let mut pages = Vec::new();
    let mut request = first;
    loop {
        if pages.len() == max_pages {
            return Err(UsageApiError::TooManyPages {
                endpoint,
                max_pages,
            });
        }
        let reply = get(request.clone())
            .await
            .map_err(|e| UsageApiError::Transport(e.into()))?;
        if !(200..300).contains(&reply.status) {
            return Err(ProviderError::from_reply(
                endpoint.provider(),
                reply.status,
                reply.retry_after_s,
                &reply.body,
            )
            .into());
        }
        let page = request.parse(&reply.body)?;
        let next = page.next_page.clone().filter(|_| page.has_more);
        pages.push(page);
        let Some(cursor) = next else {
            return Ok(pages);
        };
        if !followed.insert(cursor.clone()) {
            return Err(UsageApiError::PageLoop { endpoint, cursor });
        }
        request = request.with_page(&cursor);
    }
}
