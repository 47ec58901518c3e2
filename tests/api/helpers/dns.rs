//! A real DNS server on 127.0.0.1 (hickory-server), authoritative for
//! `com.` with the records a test gives: any other name is NXDOMAIN.

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, MX, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// One record of the zone.
pub enum Rr {
    A(&'static str, Ipv4Addr),
    Mx(&'static str, &'static str),
    Txt(&'static str, &'static str),
}

pub struct FakeDns {
    pub addr: SocketAddr,
    _task: tokio::task::JoinHandle<()>,
}

fn name(s: &str) -> Name {
    Name::from_ascii(format!("{}.", s.trim_end_matches('.'))).unwrap()
}

impl FakeDns {
    pub async fn start(records: Vec<Rr>) -> FakeDns {
        let origin = name("com");
        let mut zone: InMemoryZoneHandler =
            InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(name("ns.com"), name("admin.com"), 1, 3600, 600, 86400, 60);
        zone.upsert_mut(Record::from_rdata(origin.clone(), 60, RData::SOA(soa)), 1);
        for r in records {
            let record = match r {
                Rr::A(n, ip) => Record::from_rdata(name(n), 60, RData::A(A(ip))),
                Rr::Mx(n, host) => {
                    Record::from_rdata(name(n), 60, RData::MX(MX::new(10, name(host))))
                }
                Rr::Txt(n, t) => {
                    Record::from_rdata(name(n), 60, RData::TXT(TXT::new(vec![t.to_owned()])))
                }
            };
            zone.upsert_mut(record, 1);
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::from(origin), vec![Arc::new(zone)]);
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(socket);
        let task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        FakeDns { addr, _task: task }
    }
}
