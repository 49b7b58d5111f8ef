//! The static HTTP server, spoken to over raw HTTP/1.1 so that the tests check what a client sees on the wire.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fake_cloudtrail::http::StaticServer;

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One request on a connection of its own, read until the server closes it.
fn get(server: &StaticServer, path: &str) -> Answer {
    let mut stream = TcpStream::connect(server.url().trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers =
        lines.map(|l| l.split_once(": ").unwrap()).map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
    Answer { status, headers, body: body.to_owned() }
}

fn routes(base: &str) -> HashMap<String, (u16, String)> {
    HashMap::from([
        ("/".to_owned(), (200, format!(r#"{{"next": "{base}/next.json"}}"#))),
        ("/next.json".to_owned(), (200, "[1, 2]".to_owned())),
        ("/broken?x=1".to_owned(), (503, "busy".to_owned())),
    ])
}

#[test]
fn answers_each_path_from_its_route() {
    let server = StaticServer::start(routes);
    assert!(server.url().starts_with("http://127.0.0.1:") && !server.url().ends_with('/'));
    assert_eq!(server.base(), format!("{}/", server.url()));

    let index = get(&server, "/");
    assert_eq!(index.status, 200);
    assert_eq!(index.body, format!(r#"{{"next": "{}/next.json"}}"#, server.url()), "routes see the server's address");
    assert_eq!(index.header("content-type"), Some("application/json"));
    assert_eq!(index.header("connection"), Some("close"));
    assert_eq!(index.header("content-length"), Some(index.body.len().to_string().as_str()));

    assert_eq!(get(&server, "/next.json").body, "[1, 2]");
    let broken = get(&server, "/broken?x=1");
    assert_eq!((broken.status, broken.body.as_str()), (503, "busy"));
    let missing = get(&server, "/broken");
    assert_eq!((missing.status, missing.body.as_str()), (404, "not found"), "the query is part of the route");

    assert_eq!(server.paths(), ["/", "/next.json", "/broken?x=1", "/broken"]);
    assert_eq!(server.hits(), 4);
    assert_eq!(server.in_flight(), 0);
    assert_eq!(server.max_in_flight(), 1);
}

#[test]
fn routes_change_while_running() {
    let server = StaticServer::start(routes);
    server.set("/next.json", 500, "oops");
    server.set("/new", 200, "{}");
    server.redirect("/moved", 301, "/next.json");
    let changed = get(&server, "/next.json");
    assert_eq!((changed.status, changed.body.as_str()), (500, "oops"));
    assert_eq!(get(&server, "/new").body, "{}");
    let moved = get(&server, "/moved");
    assert_eq!((moved.status, moved.header("location")), (301, Some("/next.json")));
    assert_eq!(moved.body, "");
}

#[test]
fn a_delay_holds_answers_and_shows_requests_in_flight() {
    let server = StaticServer::start(routes);
    server.set_delay(Duration::from_millis(300));
    let started = Instant::now();
    std::thread::scope(|scope| {
        let answers: Vec<_> = (0..3).map(|_| scope.spawn(|| get(&server, "/next.json"))).collect();
        for answer in answers {
            assert_eq!(answer.join().unwrap().body, "[1, 2]");
        }
    });
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert_eq!(server.max_in_flight(), 3, "answered together, not one after another");
    assert_eq!(server.in_flight(), 0);
    assert_eq!(server.hits(), 3);

    server.set_delay(Duration::ZERO);
    let started = Instant::now();
    get(&server, "/");
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn a_route_set_during_the_delay_is_the_one_answered() {
    let server = StaticServer::start(routes);
    server.set_delay(Duration::from_millis(300));
    std::thread::scope(|scope| {
        let answer = scope.spawn(|| get(&server, "/next.json"));
        while server.hits() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        server.set("/next.json", 200, "[3]");
        assert_eq!(answer.join().unwrap().body, "[3]");
    });
}

#[test]
fn stop_closes_the_port() {
    let mut server = StaticServer::start(routes);
    get(&server, "/");
    let addr = server.url().trim_start_matches("http://").to_owned();
    server.stop();
    assert!(TcpStream::connect(&addr).is_err(), "refused after stop");
    server.stop();
    assert_eq!(server.paths(), ["/"], "the log outlives the server");
}

#[test]
fn stop_ends_a_request_waiting_on_the_delay() {
    let mut server = StaticServer::start(routes);
    server.set_delay(Duration::from_secs(30));
    let mut stream = TcpStream::connect(server.url().trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    while server.in_flight() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    server.stop();
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).unwrap_or(0), 0, "closed without an answer");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.in_flight(), 0, "a cancelled request is no longer in flight");
}
