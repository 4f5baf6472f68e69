use super::*;
use tokenwatch_app::config::builtin_providers;

fn routes() -> Routes {
    let mut cfgs = builtin_providers();
    let mut groq = cfgs["openai"].clone();
    groq.base_url = "https://api.groq.com/openai/".into();
    cfgs.insert("groq".into(), groq);
    Routes::new(cfgs.iter().filter_map(|(n, c)| Upstream::new(n, c)))
}

#[test]
fn resolves_prefixed_and_drop_in_paths() {
    let r = routes();
    let none = http::HeaderMap::new();
    let (u, rest) = r.resolve("/anthropic/v1/messages", &none).unwrap();
    assert_eq!((&*u.name, rest), ("anthropic", "/v1/messages"));
    let (u, rest) = r.resolve("/v1/messages/count_tokens", &none).unwrap();
    assert_eq!((&*u.name, rest), ("anthropic", "/v1/messages/count_tokens"));
    let (u, rest) = r.resolve("/v1/chat/completions", &none).unwrap();
    assert_eq!((&*u.name, rest), ("openai", "/v1/chat/completions"));
    let (u, _) = r
        .resolve("/v1beta/models/gemini-2.5-pro:generateContent", &none)
        .unwrap();
    assert_eq!(&*u.name, "gemini");
    let (u, rest) = r.resolve("/groq/v1/chat/completions", &none).unwrap();
    assert_eq!((&*u.name, rest), ("groq", "/v1/chat/completions"));
    assert!(r.resolve("/v1/unknown", &none).is_none());
    assert!(r.resolve("/nope/v1/messages", &none).is_none());
    let (u, rest) = r.resolve("/v1/models", &none).unwrap();
    assert_eq!((&*u.name, rest), ("openai", "/v1/models"));
    let (u, _) = r.resolve("/v1/models/gpt-4o", &none).unwrap();
    assert_eq!(&*u.name, "openai");
    let mut anthropic = http::HeaderMap::new();
    anthropic.insert(
        "anthropic-version",
        http::HeaderValue::from_static("2023-06-01"),
    );
    let (u, rest) = r.resolve("/v1/models", &anthropic).unwrap();
    assert_eq!((&*u.name, rest), ("anthropic", "/v1/models"));
    assert!(r.resolve("/v1/modelsx", &none).is_none());
}

#[test]
fn joins_base_path_and_query() {
    let r = routes();
    let (u, rest) = r
        .resolve("/groq/v1/chat/completions", &http::HeaderMap::new())
        .unwrap();
    assert_eq!(
        u.uri(rest, Some("a=1")).unwrap().to_string(),
        "https://api.groq.com/openai/v1/chat/completions?a=1"
    );
}
