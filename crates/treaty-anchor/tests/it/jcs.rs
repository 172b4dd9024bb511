//! The commitment's JSON is RFC 8785 JCS: the direct writer in `treaty_anchor::member` agrees
//! with `treaty_types::canonicalize` on awkward strings.

use serde_json::json;
use treaty_anchor::commitment_json;

#[test]
fn commitment_json_is_jcs() -> Result<(), Box<dyn std::error::Error>> {
    let strings = [
        "",
        "plain",
        "quote \" backslash \\ slash /",
        "controls \u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f} del \u{7f}",
        "latin é ß, greek π, cjk 漢字, emoji 😀, separators \u{2028}\u{2029}",
        "\u{fffd}\u{feff} bom and replacement",
    ];
    for a in strings {
        for b in strings {
            let ours = commitment_json(a, b, b, a);
            let theirs = treaty_types::canonicalize(&json!({
                "scope": a,
                "record_hash": b,
                "participant_id": b,
                "nonce": a,
            }))?;
            assert_eq!(ours, theirs, "{a:?} / {b:?}");
        }
    }
    Ok(())
}
