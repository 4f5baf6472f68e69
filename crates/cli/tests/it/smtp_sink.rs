//! A minimal SMTP server for tests: it answers EHLO/MAIL/RCPT/DATA/QUIT (no STARTTLS, no
//! AUTH) and keeps each message's envelope and raw data, so a test can parse what was sent.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One received message.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA section, dot-unstuffed, without the final ".".
    pub data: String,
}

impl Mail {
    /// A header's value (unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    pub fn body(&self) -> String {
        self.data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }
}

pub struct SmtpSink {
    pub port: u16,
    pub mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&mails);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink ESMTP test\r\n").await;
                    let mut mail = Mail::default();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("MAIL FROM:") {
                            mail.from = line[10..].trim().to_owned();
                            b"250 ok\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            mail.to.push(line[8..].trim().to_owned());
                            b"250 ok\r\n"
                        } else if upper == "DATA" {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut data = Vec::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push(l.strip_prefix('.').map_or(l.clone(), str::to_owned));
                            }
                            mail.data = data.join("\r\n");
                            store.lock().unwrap().push(std::mem::take(&mut mail));
                            b"250 queued\r\n"
                        } else if upper == "QUIT" {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        let _ = write.write_all(reply).await;
                    }
                });
            }
        });
        SmtpSink { port, mails }
    }
}
