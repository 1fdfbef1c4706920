//! The configuration's own checks: file keys, defaults, validation, and the
//! example shipped beside the systemd unit.

use super::*;

#[test]
fn file_keys_override_defaults_and_unknown_keys_are_refused() {
    let c = Config::from_toml(
        r#"
        repository = "/srv/repo"
        listen = "0.0.0.0:9000"
        log_format = "json"
        [rate_limit]
        requests_per_minute = 5
        [[parser.rules]]
        pattern = '^\[SKIP\]'
        level = "warning"
        "#,
    )
    .unwrap_or_default();
    assert_eq!(c.repository, Some(PathBuf::from("/srv/repo")));
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.rate_limit.requests_per_minute, 5);
    assert_eq!(c.parser.rules.len(), 1);
    assert_eq!(c.data, PathBuf::from("runlogd-data"));
    assert!(Config::from_toml("listen_addr = \"x\"").is_err());
    let c = Config::from_toml(
        "[metrics]\nlisten = \"127.0.0.1:9464\"\n[http]\nmax_concurrent_requests = 8",
    )
    .unwrap_or_default();
    assert_eq!(
        c.metrics.listen,
        Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
    );
    assert!(c.metrics.enabled);
    assert_eq!(c.http.max_concurrent_requests, 8);
    assert_eq!(c.http.request_timeout_secs, 30);
    let off = Config::from_toml("[metrics]\nenabled = false").unwrap_or_default();
    assert!(!off.metrics.enabled);
    let mut bad = Config::default();
    bad.http.max_concurrent_requests = 0;
    assert!(bad.validate().is_err());
    assert!(Config::from_toml("[rate_limit]\nrequests_per_minute = -1").is_err());
}

#[test]
fn a_platform_url_must_be_safe_to_send_tokens_to() {
    let check = |extra: &str| {
        Config::from_toml(&format!("[auth]\n{extra}"))
            .map_err(|e| e.to_string())
            .and_then(|c| c.validate().map(|()| c).map_err(|e| e.to_string()))
    };
    let c =
        check("platform_url = \"https://platform.example.org/\"").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            c.auth.platform_cache_secs,
            c.auth.platform_negative_cache_secs
        ),
        (60, 5)
    );
    assert_eq!(
        (c.auth.platform_timeout_secs, c.auth.platform_allow_http),
        (5, false)
    );
    for loopback in [
        "http://127.0.0.1:5000",
        "http://localhost:8000",
        "http://[::1]:80",
    ] {
        assert!(
            check(&format!("platform_url = \"{loopback}\"")).is_ok(),
            "{loopback}"
        );
    }
    let plain = "platform_url = \"http://platform.example.org\"";
    let refused = check(plain).err().unwrap_or_default();
    assert!(refused.contains("platform_allow_http"), "{refused}");
    assert!(check(&format!("{plain}\nplatform_allow_http = true")).is_ok());
    for bad in [
        "ftp://platform.example.org",
        "https://user:pw@platform.example.org",
        "https://platform.example.org/?x=1",
        "not a url",
    ] {
        assert!(
            check(&format!("platform_url = \"{bad}\"")).is_err(),
            "{bad}"
        );
    }
    assert!(check("platform_url = \"https://p.example.org\"\nplatform_timeout_secs = 0").is_err());
    assert!(
        check("platform_cache = 1").is_err(),
        "unknown keys are refused"
    );
}

#[test]
fn gcs_needs_explicit_credentials_and_reads_the_keywords() {
    let with = |extra: &str| {
        Config::from_toml(&format!("[gcs]\nbucket = \"logs\"\n{extra}")).map_err(|e| e.to_string())
    };
    let c = with("").unwrap_or_default();
    assert_eq!(c.gcs.bucket.as_deref(), Some("logs"));
    assert_eq!(c.gcs.prefix, "LogFiles/");
    assert!(
        c.validate().is_err(),
        "a bucket without credentials is refused"
    );
    for (text, expected) in [
        ("anonymous", GcsCredentials::Anonymous),
        ("application_default", GcsCredentials::ApplicationDefault),
        (
            "/etc/runlogd/sa.json",
            GcsCredentials::ServiceAccountFile("/etc/runlogd/sa.json".into()),
        ),
    ] {
        let c = with(&format!("credentials = \"{text}\"")).unwrap_or_default();
        assert_eq!(c.gcs.credentials, Some(expected));
        assert!(c.validate().is_ok());
    }
    let c =
        with("credentials = \"anonymous\"\nsigned_url_expiry_secs = 700000").unwrap_or_default();
    assert!(c.validate().is_err(), "signed URLs live at most 7 days");
    let c = with("credentials = \"anonymous\"\nprefix = \"logs\"").unwrap_or_default();
    assert!(c.validate().is_err(), "a prefix is a folder");
    assert!(with("mirror = \"elsewhere\"").is_err());
    assert!(
        Config::default().validate().is_ok(),
        "no bucket: local only"
    );
}

#[test]
fn the_shipped_example_config_parses() {
    let text = include_str!("../../systemd/runlogd.toml");
    let c = Config::from_toml(text);
    assert!(c.is_ok(), "{c:?}");
    // Its commented [auth] block names the keys as they are.
    let auth: String = text
        .lines()
        .skip_while(|l| *l != "#[auth]")
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| l.starts_with('[') || l.contains(" = "))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = Config::from_toml(&auth).map_err(|e| e.to_string());
    assert_eq!(
        c.map(|c| c.auth.platform_url),
        Ok(Some("https://sampleplatform.example.org".to_owned())),
        "{auth}"
    );
}
