//! A sidecar's `/metrics` page on 127.0.0.1 for the tests whose server
//! scrapes one (live, replicas): its request counter stays at 100, so two
//! scrapes give a rate of 0.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Serve the page while `up`; while not, close every connection
/// unanswered (a failed scrape). A thread serves it until the test process
/// ends; the address (`127.0.0.1:PORT`).
pub fn sidecar_page(up: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            if !up.load(Ordering::SeqCst) {
                continue;
            }
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = Vec::new();
            let mut buf = [0_u8; 1024];
            while !head.ends_with(b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let body =
                "seawall_sidecar_requests_total{resource=\"create-order\",result=\"ok\"} 100\n";
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}
