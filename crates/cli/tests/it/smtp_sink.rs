//! A minimal SMTP server for tests: it answers EHLO/MAIL/RCPT/DATA/QUIT, offers STARTTLS when
//! given a certificate (made with the `openssl` command, signed by a test CA), and keeps
//! each message's envelope, raw data and whether it arrived over TLS.

use std::sync::{Arc, Mutex};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// One received message.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA section, dot-unstuffed, without the final ".".
    pub data: String,
    /// Sent after a STARTTLS upgrade.
    pub tls: bool,
    /// The `AUTH PLAIN` argument (base64), if the client authenticated.
    pub auth: Option<String>,
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

type Mails = Arc<Mutex<Vec<Mail>>>;

pub struct SmtpSink {
    pub port: u16,
    pub mails: Mails,
}

pub use tokenwatch_mock::tls::TestCerts;

/// A test CA and a `localhost` certificate it signed, in `dir`.
pub fn make_certs(dir: &std::path::Path) -> TestCerts {
    tokenwatch_mock::tls::try_make_certs(dir).unwrap()
}

impl SmtpSink {
    /// Plain SMTP only.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Offers STARTTLS with this certificate when given.
    pub async fn start_with(certs: Option<&TestCerts>) -> Self {
        let acceptor = certs.map(|c| {
            let chain = CertificateDer::pem_file_iter(&c.cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(&c.key).unwrap();
            let config = tokio_rustls::rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
            TlsAcceptor::from(Arc::new(config))
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails: Mails = Arc::default();
        let store = Arc::clone(&mails);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (store, acceptor) = (Arc::clone(&store), acceptor.clone());
                tokio::spawn(async move {
                    let offer = acceptor.is_some();
                    if let Some(plain) = dialogue(stream, true, offer, false, &store).await
                        && let Some(acceptor) = acceptor
                        && let Ok(tls) = acceptor.accept(plain).await
                    {
                        dialogue(tls, false, false, true, &store).await;
                    }
                });
            }
        });
        SmtpSink { port, mails }
    }
}

/// Runs SMTP on `stream`; returns it when the client asked for STARTTLS (after "220 ready").
async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    greet: bool,
    offer_tls: bool,
    tls: bool,
    store: &Mails,
) -> Option<S> {
    let mut io = BufReader::new(stream);
    if greet {
        io.write_all(b"220 sink ESMTP test\r\n").await.ok()?;
    }
    let mut mail = Mail {
        tls,
        ..Mail::default()
    };
    let mut line = String::new();
    loop {
        line.clear();
        if io.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            // Credentials are offered only inside TLS, as real servers do.
            match (offer_tls, tls) {
                (true, _) => b"250-sink\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
                (false, true) => b"250-sink\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n",
                (false, false) => b"250-sink\r\n250 8BITMIME\r\n",
            }
        } else if upper.starts_with("AUTH PLAIN ") && tls {
            mail.auth = Some(cmd[11..].trim().to_owned());
            b"235 authenticated\r\n"
        } else if upper == "STARTTLS" && offer_tls {
            io.write_all(b"220 ready to start TLS\r\n").await.ok()?;
            io.flush().await.ok()?;
            return Some(io.into_inner());
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = cmd[10..].trim().to_owned();
            b"250 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(cmd[8..].trim().to_owned());
            b"250 ok\r\n"
        } else if upper == "DATA" {
            io.write_all(b"354 go ahead\r\n").await.ok()?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if io.read_line(&mut line).await.ok()? == 0 {
                    return None;
                }
                let l = line.trim_end_matches(['\r', '\n']);
                if l == "." {
                    break;
                }
                data.push(l.strip_prefix('.').unwrap_or(l).to_owned());
            }
            mail.data = data.join("\r\n");
            let auth = mail.auth.clone();
            store.lock().unwrap().push(std::mem::replace(
                &mut mail,
                Mail {
                    tls,
                    auth,
                    ..Mail::default()
                },
            ));
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            let _ = io.write_all(b"221 bye\r\n").await;
            return None;
        } else {
            b"250 ok\r\n"
        };
        io.write_all(reply).await.ok()?;
        io.flush().await.ok()?;
    }
}
