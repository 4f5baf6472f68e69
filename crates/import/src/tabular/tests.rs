//! Reading, validating and writing rows: bad cells named by row and column, costs in any
//! notation rounded once, and export → import giving the same rows back.

use super::*;

#[test]
fn rows_name_their_bad_column() {
    let prices = PriceTable::shipped().unwrap();
    let text = "ts,model,input_tokens\n2026-11-01T10:00:00Z,claude-sonnet-4-5,10\nnot-a-time,x,1\n2026-11-01,claude-sonnet-4-5,-3\n";
    let rows = read_csv(text.as_bytes()).unwrap();
    let (events, errors) = validate(rows, Source::Csv, &prices, 1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].provider, "anthropic");
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors[0].to_string().split(':').next(),
        Some("row 2, column ts")
    );
    assert_eq!(errors[1].row, 3);
    assert_eq!(errors[1].column.as_deref(), Some("input_tokens"));
}

#[test]
fn impossible_costs_are_refused_by_row_and_column() {
    let prices = PriceTable::shipped().unwrap();
    let bad = [
        "-1",
        "-0.000001",
        "NaN",
        "inf",
        "-inf",
        "1e999",
        "1000000.000001",
        "$5",
        "\"1,5\"",
    ];
    let mut text = "ts,model,cost_usd\n".to_owned();
    for cost in bad {
        text.push_str(&format!("2026-11-01,claude-sonnet-4-5,{cost}\n"));
    }
    let (events, errors) = validate(read_csv(text.as_bytes()).unwrap(), Source::Csv, &prices, 1);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(errors.len(), bad.len());
    for (i, e) in errors.iter().enumerate() {
        assert_eq!(e.row, i + 1);
        assert_eq!(e.column.as_deref(), Some("cost_usd"), "{e}");
        assert!(e.reason.contains(bad[i].trim_matches('"')), "{e}");
    }
    assert!(errors[0].reason.contains("negative"), "{}", errors[0]);
    assert!(errors[5].reason.contains("$1000000"), "{}", errors[5]);
}

#[test]
fn any_precision_and_notation_rounds_once_to_the_stored_unit() {
    let prices = PriceTable::shipped().unwrap();
    let text = "ts,model,cost_usd\n2026-11-01,a,1e-6\n2026-11-01,b,0.0000000015\n2026-11-01,c,0.12345649\n2026-11-01,d,1000000\n2026-11-01,e,2.5E-3\n";
    let (events, errors) = validate(read_csv(text.as_bytes()).unwrap(), Source::Csv, &prices, 1);
    assert!(errors.is_empty(), "{errors:?}");
    let costs: Vec<Option<i64>> = events.iter().map(|e| e.cost_nanos).collect();
    assert_eq!(
        costs,
        [
            Some(1_000),
            Some(2),
            Some(123_456_490),
            Some(1_000_000_000_000_000),
            Some(2_500_000)
        ]
    );
}

#[test]
fn exported_rows_import_exactly_from_csv_and_json() {
    let prices = PriceTable::shipped().unwrap();
    let mut originals = Vec::new();
    for (n, cost) in [
        Some(1_000),
        Some(0),
        Some(123_456_789),
        None,
        Some(1_000_000_000_000),
        Some(1),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = UsageEvent::blank(
            new_id(),
            1_790_000_000_000 + n as i64,
            Source::Proxy,
            "openai",
            if cost.is_some() {
                "text-embedding-3-small"
            } else {
                "mystery-embedder"
            },
            "embeddings",
            format!("k{n}"),
        );
        e.usage.input_tokens = 50;
        e.cost_nanos = cost;
        e.tags = vec![("team".into(), "a".into())];
        originals.push(e);
    }
    let rows: Vec<Row> = originals.iter().map(Row::from_event).collect();
    assert_eq!(rows[0].cost_usd.0, "0.000001", "no exponent");
    assert_eq!(rows[5].cost_usd.0, "0.000000001", "a nano-dollar is kept");
    let mut csv = csv::Writer::from_writer(Vec::new());
    for r in &rows {
        csv.serialize(r).unwrap();
    }
    let csv = String::from_utf8(csv.into_inner().unwrap()).unwrap();
    let json = format!(
        "{{\"events\": [{}]}}",
        rows.iter()
            .map(|r| r.to_json().unwrap())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(
        json.contains("\"cost_usd\": 0.000001,"),
        "a JSON number: {json}"
    );
    assert!(
        json.contains("\"input_tokens\": 50,"),
        "a JSON number: {json}"
    );
    assert!(json.contains("\"cost_usd\": null,"), "unpriced: {json}");
    for rows in [read_csv(csv.as_bytes()).unwrap(), read_json(&json).unwrap()] {
        let (events, errors) = validate(rows, Source::Csv, &prices, 1);
        assert!(errors.is_empty(), "{errors:?}");
        let back: Vec<Row> = events.iter().map(Row::from_event).collect();
        let expected: Vec<Row> = originals.iter().map(Row::from_event).collect();
        assert_eq!(back, expected);
    }
}

#[test]
fn unknown_csv_columns_are_refused_by_name() {
    let err = read_csv("ts,model,inputtokens\n".as_bytes()).unwrap_err();
    assert_eq!(err.column.as_deref(), Some("inputtokens"));
}
