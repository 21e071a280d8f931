//! A Discord webhook message: one embed per kill, at most 10, inside Discord's limits (title 256,
//! description 4 096, 25 fields of 256/1 024, footer 2 048, 6 000 characters in all).

use serde_json::{json, Value};

use super::summary::{cut, Summary};

pub const MAX_EMBEDS: usize = 10;
pub const MAX_TOTAL: usize = 6_000;
const TITLE: usize = 256;
/// Below Discord's own limits (description 4 096, field value 1 024), so that one embed is
/// always far inside the message's 6 000 characters.
const DESCRIPTION: usize = 1_024;
const FIELD_VALUE: usize = 256;
const RULES_VALUE: usize = 512;
const FOOTER: &str = "wanderer-kills";
/// A kill's red.
const COLOR: u32 = 0x00C0_392B;

/// One embed, and the characters Discord counts against the message's total.
pub fn embed(summary: &Summary) -> (Value, usize) {
    let title = cut(&summary.title, TITLE);
    let description = cut(
        &format!("{} · {} attackers", summary.place, summary.attackers),
        DESCRIPTION,
    );
    let mut fields = vec![
        ("Value", summary.value.clone(), true),
        ("Attackers", summary.attackers.to_string(), true),
        ("Final blow", summary.final_blow.clone(), false),
    ];
    if let Some(region) = &summary.region {
        fields.insert(1, ("Region", region.clone(), true));
    }
    if !summary.rules.is_empty() {
        fields.push(("Rule", summary.rules.join(", "), false));
    }
    let fields: Vec<(&str, String, bool)> = fields
        .into_iter()
        .map(|(name, value, inline)| {
            let max = if name == "Rule" {
                RULES_VALUE
            } else {
                FIELD_VALUE
            };
            (name, cut(&value, max), inline)
        })
        .collect();
    let counted = title.chars().count()
        + description.chars().count()
        + FOOTER.len()
        + fields
            .iter()
            .map(|(name, value, _)| name.len() + value.chars().count())
            .sum::<usize>();
    let mut embed = json!({
        "title": title,
        "url": summary.url,
        "description": description,
        "color": COLOR,
        "timestamp": summary.time,
        "fields": fields.iter().map(|(name, value, inline)| json!({"name": name, "value": value, "inline": inline})).collect::<Vec<_>>(),
        "footer": {"text": FOOTER},
    });
    if let Some(url) = &summary.thumbnail {
        embed["thumbnail"] = json!({"url": url});
    }
    (embed, counted)
}

/// `{"username", "embeds"}` from the first summaries that fit; how many it took (at least one).
pub fn message(summaries: &[Summary]) -> (Value, usize) {
    let mut embeds = Vec::new();
    let mut total = 0;
    for summary in summaries.iter().take(MAX_EMBEDS) {
        let (embed, counted) = embed(summary);
        if !embeds.is_empty() && total + counted > MAX_TOTAL {
            break;
        }
        total += counted;
        embeds.push(embed);
    }
    let used = embeds.len();
    (
        json!({"username": "wanderer-kills", "embeds": embeds}),
        used,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(long: usize) -> Summary {
        let name = "X".repeat(long);
        Summary {
            title: format!("{name} lost a Rifter in Jita"),
            url: "https://zkillboard.com/kill/1/".into(),
            place: format!("Jita (The Forge, highsec) {name}"),
            region: Some("The Forge".into()),
            value: "1.00B ISK".into(),
            final_blow: name.clone(),
            attackers: 3,
            thumbnail: Some("https://images.evetech.net/types/587/render?size=128".into()),
            time: "2026-11-30T08:00:00Z".into(),
            rules: vec![name],
        }
    }

    /// Characters Discord counts in a message.
    fn counted(message: &Value) -> usize {
        let text = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
        message["embeds"]
            .as_array()
            .expect("embeds")
            .iter()
            .map(|e| {
                text(&e["title"])
                    + text(&e["description"])
                    + text(&e["footer"]["text"])
                    + e["fields"]
                        .as_array()
                        .expect("fields")
                        .iter()
                        .map(|f| text(&f["name"]) + text(&f["value"]))
                        .sum::<usize>()
            })
            .sum()
    }

    #[test]
    fn every_embed_keeps_discord_s_limits_and_a_message_its_total() {
        let long: Vec<Summary> = (0..12).map(|_| summary(5_000)).collect();
        let (long_message, used) = message(&long);
        assert!(
            (1..10).contains(&used),
            "{used} embeds of long kills fit in 6 000"
        );
        assert!(
            counted(&long_message) <= MAX_TOTAL,
            "{}",
            counted(&long_message)
        );
        for embed in long_message["embeds"].as_array().expect("embeds") {
            assert!(embed["title"].as_str().expect("title").chars().count() <= 256);
            assert!(embed["description"].as_str().expect("text").chars().count() <= 4_096);
            let fields = embed["fields"].as_array().expect("fields");
            assert!(fields.len() <= 25);
            assert!(fields
                .iter()
                .all(|f| f["value"].as_str().expect("value").chars().count() <= 1_024));
        }

        let short: Vec<Summary> = (0..12).map(|_| summary(5)).collect();
        let (short_message, used) = message(&short);
        assert_eq!(used, 10, "at most 10 embeds");
        assert_eq!(short_message["embeds"].as_array().map(Vec::len), Some(10));
        assert!(counted(&short_message) <= MAX_TOTAL);
    }
}
