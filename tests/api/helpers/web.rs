//! A real HTTP/1.1 server on 127.0.0.1 that answers by `Host`: the pages a
//! lookalike may serve (a brand's page, a clone, a parked page, a redirect).
//! A host whose page is not set gets its connection closed (it is down).
//! Every request's host is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone)]
pub enum WebPage {
    Html(String),
    Redirect(String),
    /// The page, after a pause (a check in progress long enough to kill).
    Slow(std::time::Duration, String),
}

#[derive(Clone, Default)]
pub struct WebServer {
    pub port: u16,
    pages: Arc<Mutex<HashMap<String, WebPage>>>,
    hosts: Arc<Mutex<Vec<String>>>,
}

impl WebServer {
    pub async fn start() -> WebServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = WebServer {
            port: listener.local_addr().unwrap().port(),
            ..WebServer::default()
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let host = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("host: ")
                                .or_else(|| l.strip_prefix("Host: "))
                        })
                        .unwrap_or_default()
                        .split(':')
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    s.hosts.lock().unwrap().push(host.clone());
                    let page = s.pages.lock().unwrap().get(&host).cloned();
                    let page = match page {
                        Some(WebPage::Slow(pause, body)) => {
                            tokio::time::sleep(pause).await;
                            Some(WebPage::Html(body))
                        }
                        other => other,
                    };
                    let reply = match page {
                        None | Some(WebPage::Slow(..)) => return,
                        Some(WebPage::Html(body)) => format!(
                            "HTTP/1.1 200 OK\r\nServer: fake\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        Some(WebPage::Redirect(to)) => format!(
                            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        ),
                    };
                    let _ = conn.write_all(reply.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        server
    }

    pub fn set(&self, host: &str, page: WebPage) {
        self.pages.lock().unwrap().insert(host.to_owned(), page);
    }

    /// The hosts asked for, in order.
    pub fn hosts(&self) -> Vec<String> {
        self.hosts.lock().unwrap().clone()
    }
}
