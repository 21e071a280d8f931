//! A Slack incoming-webhook message: `text` (the notification's fallback) and blocks, a section
//! with the ship's render and a context line per kill, inside Slack's limits (50 blocks, 3 000
//! characters per section text).

use serde_json::{json, Value};

use super::summary::{cut, Summary};

const SECTION_TEXT: usize = 3_000;
const MAX_BLOCKS: usize = 50;
/// Blocks one kill takes: its section, its context, a divider.
const BLOCKS_PER_KILL: usize = 3;

/// Slack's mrkdwn escapes: `&`, `<` and `>`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn blocks(summary: &Summary) -> [Value; 3] {
    let text = cut(
        &format!(
            "*<{}|{}>*\n{} · {} · {} attackers\nFinal blow: {}",
            summary.url,
            escape(&summary.title),
            escape(&summary.place),
            summary.value,
            summary.attackers,
            escape(&summary.final_blow)
        ),
        SECTION_TEXT,
    );
    let mut section = json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});
    if let Some(url) = &summary.thumbnail {
        section["accessory"] = json!({"type": "image", "image_url": url, "alt_text": "ship"});
    }
    let mut context = vec![json!({"type": "mrkdwn", "text": summary.time})];
    if !summary.rules.is_empty() {
        let rules = escape(&summary.rules.join(", "));
        context.push(json!({"type": "mrkdwn", "text": format!("rule: {rules}")}));
    }
    [
        section,
        json!({"type": "context", "elements": context}),
        json!({"type": "divider"}),
    ]
}

/// `{"text", "blocks"}` from the first summaries that fit; how many it took (at least one).
pub fn message(summaries: &[Summary], max_kills: usize) -> (Value, usize) {
    let used = summaries
        .len()
        .min(max_kills.max(1))
        .min(MAX_BLOCKS / BLOCKS_PER_KILL);
    let text = summaries[..used]
        .iter()
        .map(|s| s.title.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let blocks: Vec<Value> = summaries[..used].iter().flat_map(blocks).collect();
    (
        json!({"text": cut(&text, SECTION_TEXT), "blocks": blocks}),
        used,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: &str) -> Summary {
        Summary {
            title: format!("{name} lost a Rifter in Jita"),
            url: "https://zkillboard.com/kill/1/".into(),
            place: "Jita (The Forge, highsec)".into(),
            region: Some("The Forge".into()),
            value: "1.00B ISK".into(),
            final_blow: "Killer (Corp) in Sabre".into(),
            attackers: 3,
            thumbnail: None,
            time: "2026-11-30T08:00:00Z".into(),
            rules: vec!["big <ones>".into()],
        }
    }

    #[test]
    fn a_message_keeps_slack_s_limits_and_escapes_its_text() {
        let many: Vec<Summary> = (0..30).map(|_| summary(&"X".repeat(4_000))).collect();
        let (big, used) = message(&many, 30);
        let blocks = big["blocks"].as_array().expect("blocks");
        assert!(blocks.len() <= 50 && used == blocks.len() / BLOCKS_PER_KILL);
        for block in blocks.iter().filter(|b| b["type"] == "section") {
            assert!(
                block["text"]["text"]
                    .as_str()
                    .expect("text")
                    .chars()
                    .count()
                    <= 3_000
            );
        }
        let (message, _) = message(&[summary("A&B <co>")], 10);
        let text = message["blocks"][0]["text"]["text"].as_str().expect("text");
        assert!(text.contains("A&amp;B &lt;co&gt;"), "{text}");
        assert_eq!(
            message["blocks"][1]["elements"][1]["text"],
            "rule: big &lt;ones&gt;"
        );
    }
}
