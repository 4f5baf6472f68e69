use tokenwatch_core::alerting::{ChannelKind, ChannelSpec, SmtpTls};
use tokenwatch_store::{DEFAULT_TENANT, DefKind, Store};

use super::*;

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "HxAREhMUFRYXGBkaGxwdHh8AAQIDBAUGBwgJCgsMDQ4=";

fn secrets(key: &str) -> Secrets {
    Secrets::new(KeySource::Inline(key.to_owned()))
}

fn channel(kind: ChannelKind) -> ChannelSpec {
    ChannelSpec {
        name: "ops".into(),
        kind,
        url: Some("https://hooks.example.test/T0/URL-SECRET".into()),
        secret: Some("HMAC-SECRET".into()),
        smtp_host: None,
        smtp_port: None,
        smtp_tls: SmtpTls::Starttls,
        smtp_ca_file: None,
        username: None,
        password: Some("env:SMTP_PASSWORD".into()),
        from: None,
        to: vec![],
    }
}

#[test]
fn sealed_values_open_again_and_never_show_the_secret() {
    let s = secrets(KEY_A);
    let mut c = channel(ChannelKind::Slack);
    assert!(s.seal_channel(&mut c).unwrap());
    let secret = c.secret.clone().unwrap();
    let url = c.url.clone().unwrap();
    for sealed in [&secret, &url] {
        assert!(sealed.starts_with("enc:v1:"), "{sealed}");
        assert!(!sealed.contains("SECRET"), "{sealed}");
    }
    // env: references are not secrets: kept as written.
    assert_eq!(c.password.as_deref(), Some("env:SMTP_PASSWORD"));
    assert_eq!(
        s.open("ops", "secret", Some(&secret)).unwrap().as_deref(),
        Some("HMAC-SECRET")
    );
    assert_eq!(
        s.open("ops", "url", Some(&url)).unwrap().as_deref(),
        Some("https://hooks.example.test/T0/URL-SECRET")
    );
    // Sealing again changes nothing; a fresh seal of the same text differs (random nonce).
    assert!(!s.seal_channel(&mut c).unwrap());
    let mut again = channel(ChannelKind::Slack);
    s.seal_channel(&mut again).unwrap();
    assert_ne!(again.secret, c.secret);
    // A value in clear (or absent) opens to itself.
    assert_eq!(
        s.open("ops", "secret", Some("plain")).unwrap().as_deref(),
        Some("plain")
    );
    assert_eq!(s.open("ops", "secret", None).unwrap(), None);
}

#[test]
fn a_webhook_url_is_an_address_and_stays_readable() {
    let mut c = channel(ChannelKind::Webhook);
    secrets(KEY_A).seal_channel(&mut c).unwrap();
    assert_eq!(
        c.url.as_deref(),
        Some("https://hooks.example.test/T0/URL-SECRET")
    );
    assert!(c.secret.as_deref().is_some_and(is_sealed));
}

#[test]
fn a_wrong_key_names_the_channel_and_field_never_the_secret() {
    let mut c = channel(ChannelKind::Slack);
    secrets(KEY_A).seal_channel(&mut c).unwrap();
    let err = secrets(KEY_B)
        .open("ops", "secret", c.secret.as_deref())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "channel 'ops': its secret cannot be decrypted with the key from TOKENWATCH_SECRET_KEY"
        ),
        "{err}"
    );
    assert!(!err.contains("HMAC") && !err.contains(KEY_A) && !err.contains(KEY_B));
    assert!(secrets(KEY_B).check_channel(&c).is_err());
    assert!(secrets(KEY_A).check_channel(&c).is_ok());
    // The field is bound to the value: a sealed secret does not open as the url.
    assert!(
        secrets(KEY_A)
            .open("ops", "url", c.secret.as_deref())
            .is_err()
    );
    // Damaged values fail the same way.
    assert!(
        secrets(KEY_A)
            .open("ops", "secret", Some("enc:v1:!!"))
            .is_err()
    );
    assert!(
        secrets(KEY_A)
            .open("ops", "secret", Some("enc:v1:AAAA"))
            .is_err()
    );
}

#[test]
fn a_bad_key_is_refused_without_showing_it() {
    let mut c = channel(ChannelKind::Webhook);
    let err = secrets("c2hvcnQ=")
        .seal_channel(&mut c)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "the channel secret key from TOKENWATCH_SECRET_KEY is unusable: it decodes to 5 bytes, not 32 (generate one with: head -c 32 /dev/urandom | base64)"
    );
    let err = secrets("not base64 at all!")
        .seal_channel(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("not base64"), "{err}");
}

#[test]
fn the_key_file_is_generated_once_private_and_shared() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join(KEY_FILE_NAME);
    // Opening needs no key file until something was sealed, and says so by name.
    let first = Secrets::new(KeySource::Generated(path.clone()));
    let err = first
        .open("ops", "password", Some("enc:v1:AAAA"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no key") && err.contains(KEY_FILE_NAME),
        "{err}"
    );
    assert!(!path.exists());
    let mut c = channel(ChannelKind::Webhook);
    first.seal_channel(&mut c).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim().len(), 44, "base64 of 32 bytes");
    // Another process (or the CLI) reads the same file, and the variable form of it works.
    let second = Secrets::new(KeySource::Generated(path.clone()));
    let third = Secrets::new(KeySource::File(path.clone()));
    let inline = secrets(text.trim());
    for s in [&second, &third, &inline] {
        assert_eq!(
            s.open("ops", "secret", c.secret.as_deref())
                .unwrap()
                .as_deref(),
            Some("HMAC-SECRET")
        );
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "never replaced"
    );
    // A given key file must exist.
    let missing = Secrets::new(KeySource::File(dir.path().join("nope.key")));
    let err = missing
        .seal_channel(&mut channel(ChannelKind::Webhook))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read the channel secret key file"),
        "{err}"
    );
}

#[tokio::test]
async fn clear_rows_of_older_versions_are_sealed_in_place_and_wiped_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let store = Store::open(db.to_str().unwrap()).await.unwrap();
    let clear = serde_json::to_string(&channel(ChannelKind::Slack)).unwrap();
    store
        .put_definition(DEFAULT_TENANT, DefKind::Channel, "ops", &clear, "config")
        .await
        .unwrap();
    let s = secrets(KEY_A);
    assert_eq!(s.seal_stored_channels(&store).await.unwrap(), 1);
    assert_eq!(
        s.seal_stored_channels(&store).await.unwrap(),
        0,
        "done once"
    );
    let row = store
        .get_definition(DEFAULT_TENANT, DefKind::Channel, "ops")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.origin, "config", "the row keeps its origin");
    let stored: ChannelSpec = serde_json::from_str(&row.spec).unwrap();
    assert_eq!(
        s.open("ops", "secret", stored.secret.as_deref())
            .unwrap()
            .as_deref(),
        Some("HMAC-SECRET")
    );
    // The clear text is gone from the database file and its WAL, not only from the row.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    for needle in [&b"HMAC-SECRET"[..], b"URL-SECRET"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} is still in the files",
            String::from_utf8_lossy(needle)
        );
    }
}
