use super::*;

fn with_provider(name: &str, url: &str) -> Config {
    let mut config = Config {
        providers: builtin_providers(),
        ..Config::default()
    };
    let mut p = ProviderConfig::builtin(ProviderKind::Openai, url);
    p.timeout_secs = 5;
    config.providers.insert(name.to_owned(), p);
    config
}

#[test]
fn builtins_validate() {
    assert!(
        with_provider("groq", "https://api.groq.com/openai")
            .validate()
            .is_ok()
    );
}

#[test]
fn reserved_and_bad_names_are_named() {
    let err = with_provider("api", "https://x.test")
        .validate()
        .unwrap_err();
    assert!(err.to_string().starts_with("providers.api:"), "{err}");
    let err = with_provider("Bad Name", "https://x.test")
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("providers.Bad Name"), "{err}");
}

#[test]
fn bad_url_is_named() {
    let err = with_provider("local", "ftp://x").validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "providers.local.base_url: 'ftp://x' is not an http:// or https:// URL"
    );
}

#[test]
fn listen_takes_names_and_addresses() {
    assert_eq!(split_listen("localhost:4100"), Some(("localhost", 4100)));
    assert_eq!(split_listen("127.0.0.1:0"), Some(("127.0.0.1", 0)));
    assert_eq!(split_listen("[::1]:4100"), Some(("[::1]", 4100)));
    for bad in ["localhost", "::1:4100", ":4100", "host:http", "[::1]4100"] {
        assert_eq!(split_listen(bad), None, "{bad}");
    }
    let mut config = Config::default();
    config.server.listen = "localhost".into();
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "server.listen: 'localhost' is not host:port (e.g. 127.0.0.1:4100, localhost:4100, [::1]:4100)"
    );
    config.server.listen = "localhost:4100".into();
    for bad in ["https://tw.example/", "tw.example:4100"] {
        config.server.allowed_hosts = vec![bad.into()];
        assert!(
            matches!(config.validate(), Err(ConfigError::BadAllowedHost(_))),
            "{bad}"
        );
    }
    config.server.allowed_hosts = vec!["tw.example".into(), "fe80::1".into()];
    assert!(config.validate().is_ok());
}

#[test]
fn debug_redacts_key() {
    let mut p = ProviderConfig::builtin(ProviderKind::Anthropic, "https://a.test");
    p.api_key = Some("sk-ant-SECRET".into());
    let shown = format!("{p:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
}
