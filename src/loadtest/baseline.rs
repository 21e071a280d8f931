//! The load test's baseline: the least a server can do for the same clients. It speaks just
//! enough Phoenix to let a client join (`phx_reply`, `preload_complete`), and forwards each kill
//! frame the load test hands it, already serialized, to every joined client following the
//! kill's system. No feed, no store, no routing index: tokio, a TCP listener and actix-http's
//! WebSocket codec. Run as its own process (`wanderer-kills baseline-server`, hidden), so its
//! CPU and memory are read the same way as the service's.
//!
//! The load test connects once with `CONTROL\n` and then writes one line per kill:
//! `<system_id> <killmail_id>\n`. Or, with a [`Feed`], the forwarder follows the simulator's
//! RedisQ and commits each kill before forwarding it ([`super::baseline_feed`]).

use std::collections::HashSet;

use actix_codec::Framed;
use actix_web::rt::net::{TcpListener, TcpStream};
use awc::ws::{Codec, Frame, Message};
use bytestring::ByteString;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::broadcast;

use super::baseline_feed::{follow, Feed};

/// A kill frame as big as a typical `killmail_update` the service sends (about 6.5 KB).
const FRAME_BYTES: usize = 6_500;

/// Serves until the process ends; prints `listening address=...` once bound.
pub async fn serve(port: u16, feed: Option<Feed>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening address={}", listener.local_addr()?);
    let (kills, _) = broadcast::channel::<(u64, ByteString)>(4096);
    if let Some(feed) = feed {
        let kills = kills.clone();
        let forward = move |system, id| {
            let _ = kills.send((system, frame(system, id)));
        };
        actix_web::rt::spawn(async move {
            if let Err(e) = follow(feed, forward).await {
                eprintln!("the baseline's feed stopped: {e:#}");
            }
        });
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        actix_web::rt::spawn(connection(stream, kills.clone()));
    }
}

async fn connection(stream: TcpStream, kills: broadcast::Sender<(u64, ByteString)>) {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    if reader.read_line(&mut first).await.unwrap_or(0) == 0 {
        return;
    }
    if first.trim_end() == "CONTROL" {
        return control(reader, kills).await;
    }
    if first.starts_with("GET /ping ") {
        let pong = "HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong";
        let _ = reader.into_inner().write_all(pong.as_bytes()).await;
        return;
    }
    let mut key = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("sec-websocket-key") {
                key = Some(value.trim().to_owned());
            }
        }
    }
    let Some(key) = key else { return };
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
        accept(&key)
    );
    let mut stream = reader.into_inner();
    if stream.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    let mut framed = Framed::new(stream, Codec::new());
    let systems = match framed.next().await {
        Some(Ok(Frame::Text(join))) => joined_systems(&join),
        _ => return,
    };
    for reply in [
        r#"[1,1,"killmails:lobby","phx_reply",{"status":"ok","response":{}}]"#,
        r#"[1,null,"killmails:lobby","preload_complete",{"total_kills":0}]"#,
    ] {
        if framed.send(Message::Text(reply.into())).await.is_err() {
            return;
        }
    }
    let mut kills = kills.subscribe();
    loop {
        tokio::select! {
            kill = kills.recv() => match kill {
                Ok((system, frame)) if systems.contains(&system) => {
                    if framed.send(Message::Text(frame)).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            frame = framed.next() => match frame {
                Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Reads `<system_id> <killmail_id>` lines and hands each kill's frame to every connection.
async fn control(mut reader: BufReader<TcpStream>, kills: broadcast::Sender<(u64, ByteString)>) {
    let mut line = String::new();
    while reader.read_line(&mut line).await.unwrap_or(0) > 0 {
        let mut parts = line.split_whitespace().map(|p| p.parse::<u64>().ok());
        if let (Some(Some(system)), Some(Some(id))) = (parts.next(), parts.next()) {
            let _ = kills.send((system, frame(system, id)));
        }
        line.clear();
    }
}

/// A `killmail_update` V2 frame for one kill, padded to [`FRAME_BYTES`].
fn frame(system: u64, id: u64) -> ByteString {
    let head = format!(
        r#"[null,null,"killmails:lobby","killmail_update",{{"system_id":{system},"killmails":[{{"killmail_id":{id},"padding":""#
    );
    let tail = r#""}],"preload":false}]"#;
    let pad = FRAME_BYTES.saturating_sub(head.len() + tail.len());
    ByteString::from(format!("{head}{}{tail}", "x".repeat(pad)))
}

/// The systems of a `phx_join` frame's payload.
fn joined_systems(join: &[u8]) -> HashSet<u64> {
    let frame: serde_json::Value = serde_json::from_slice(join).unwrap_or_default();
    frame[4]["systems"]
        .as_array()
        .map(|s| s.iter().filter_map(|v| v.as_u64()).collect())
        .unwrap_or_default()
}

/// `Sec-WebSocket-Accept` for `key` (RFC 6455 §4.2.2): base64 of SHA-1 of key + GUID.
fn accept(key: &str) -> String {
    const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{GUID}").as_bytes(),
    );
    base64(digest.as_ref())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_accept_key_is_the_one_rfc_6455_gives() {
        assert_eq!(
            super::accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_kill_frame_is_as_big_as_a_typical_update_and_names_its_kill() {
        let frame = super::frame(30000142, 7);
        assert_eq!(frame.len(), super::FRAME_BYTES);
        assert_eq!(super::super::client::kill_id(frame.as_bytes()), Some(7));
    }
}
