//! `screenshot` (cargo feature `screenshots`, off by default, and
//! `enrichment.screenshot.enabled`): a PNG of the live lookalike taken by
//! headless Chromium (Debian's `chromium-headless-shell`), kept in
//! `enrichment.screenshot.dir` (default: `screenshots/` beside the store),
//! and its perceptual hash (a 256-bit difference hash) compared with the
//! brand's own page taken the same way: `looks_like_brand` at a Hamming
//! distance of `similar_below` or less.
//!
//! The browser is the attacker's visitor, so it is boxed in: a throwaway
//! profile per shot; the page's host mapped to the address the HTTP check
//! connected to (`--host-resolver-rules`, no DNS of its own); every other
//! request sent to a proxy that does not exist (`--proxy-server` on a
//! closed port, the host alone bypassing it), so no sub-request reaches any
//! other host, private or not; a time limit after which the browser's whole
//! process group is killed.

use crate::config::{ConfigError, invalid, require_positive};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// `[enrichment.screenshot]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScreenshotSettings {
    pub enabled: bool,
    /// The browser: a path, or a name on the PATH.
    pub chromium: PathBuf,
    /// For one shot, the browser's start included.
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// Where the PNGs go; empty: `screenshots/` beside the store.
    pub dir: PathBuf,
    /// Difference-hash distance (of 256 bits) at or under which a page looks like the brand's.
    pub similar_below: u32,
    pub width: u32,
    pub height: u32,
    /// Pages a second shot from any one address, at most.
    pub per_address_per_second: f64,
}

impl Default for ScreenshotSettings {
    fn default() -> Self {
        ScreenshotSettings {
            enabled: false,
            chromium: PathBuf::from("chromium-headless-shell"),
            timeout: Duration::from_secs(30),
            dir: PathBuf::new(),
            similar_below: 40,
            width: 1280,
            height: 900,
            per_address_per_second: 1.0,
        }
    }
}

impl ScreenshotSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && !cfg!(feature = "screenshots") {
            return Err(invalid(
                "enrichment.screenshot.enabled",
                "this build has no screenshots (build with --features screenshots)",
            ));
        }
        require_positive(&[("enrichment.screenshot.timeout", self.timeout)])?;
        if !(200..=4000).contains(&self.width) || !(200..=4000).contains(&self.height) {
            return Err(invalid(
                "enrichment.screenshot",
                "width and height must be 200 to 4000",
            ));
        }
        crate::enrich::pace::check_rate(
            "enrichment.screenshot.per_address_per_second",
            self.per_address_per_second,
        )?;
        if self.similar_below > 256 {
            return Err(invalid(
                "enrichment.screenshot.similar_below",
                "must be 0 to 256",
            ));
        }
        Ok(())
    }
}

#[cfg(feature = "screenshots")]
pub(super) use shooter::Screenshot;

#[cfg(feature = "screenshots")]
mod shooter {
    use super::ScreenshotSettings;
    use crate::enrich::{Finding, Findings, Target};
    use futures_util::future::BoxFuture;
    use serde_json::json;
    use std::collections::HashMap;
    use std::net::IpAddr;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    pub(crate) struct Screenshot {
        settings: ScreenshotSettings,
        /// The brand's page hash, per brand, with when it was taken.
        brands: Mutex<HashMap<String, (Option<Hash>, Instant)>>,
        /// Brand hashes the cache answered.
        hits: AtomicU64,
        /// `per_address_per_second`, per address.
        pacer: crate::enrich::pace::Pacer,
        /// How long a brand's hash is kept.
        refresh: Duration,
        user_agent: String,
    }

    impl Screenshot {
        pub(crate) fn new(
            settings: ScreenshotSettings,
            refresh: Duration,
            user_agent: &str,
        ) -> Screenshot {
            Screenshot {
                pacer: crate::enrich::pace::Pacer::new(
                    settings.per_address_per_second,
                    settings.timeout,
                    "enrichment.screenshot.per_address_per_second",
                ),
                settings,
                brands: Mutex::new(HashMap::new()),
                hits: AtomicU64::new(0),
                refresh,
                user_agent: user_agent.to_owned(),
            }
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<Hash>, Instant)>> {
            self.brands.lock().unwrap_or_else(|p| p.into_inner())
        }

        /// Take a PNG of `url`, whose host is pinned to `ip`, into `out`.
        async fn shoot(&self, url: &str, ip: IpAddr, out: &Path) -> Result<(), String> {
            let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
            let host = parsed.host_str().ok_or("no host")?.to_owned();
            if host.contains(',') || host.contains(' ') {
                return Err("an unusable host name".into());
            }
            let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
            // a port nothing listens on: every request not for the host fails
            let dead = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| e.to_string())?
                .port();
            let ip_text = match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            let mut cmd = tokio::process::Command::new(&self.settings.chromium);
            cmd.arg("--headless")
                .arg("--no-sandbox")
                .arg("--disable-gpu")
                .arg("--no-first-run")
                .arg("--disable-extensions")
                .arg("--disable-background-networking")
                .arg("--disable-sync")
                .arg("--hide-scrollbars")
                .arg("--mute-audio")
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg(format!("--user-agent={}", self.user_agent))
                .arg(format!(
                    "--host-resolver-rules=MAP {host} {ip_text}, MAP * ~NOTFOUND"
                ))
                .arg(format!("--proxy-server=127.0.0.1:{dead}"))
                // `<-loopback>`: loopback is not exempt from the proxy either
                .arg(format!("--proxy-bypass-list=<-loopback>;{host}"))
                .arg("--ignore-certificate-errors")
                .arg(format!(
                    "--window-size={},{}",
                    self.settings.width, self.settings.height
                ))
                .arg("--virtual-time-budget=5000")
                .arg(format!("--screenshot={}", out.display()))
                .arg(url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .process_group(0)
                .kill_on_drop(true);
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", self.settings.chromium.display()))?;
            let pgid = child.id();
            match tokio::time::timeout(self.settings.timeout, child.wait()).await {
                Ok(Ok(status)) if status.success() && out.exists() => Ok(()),
                Ok(Ok(status)) => Err(format!("the browser ended with {status} and no screenshot")),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => {
                    // the browser and every helper process it started
                    // (`-s KILL --`: procps' kill reads `-KILL -<pgid>`
                    // as two signal options and kills nothing)
                    if let Some(pgid) = pgid {
                        let killed = std::process::Command::new("kill")
                            .args(["-s", "KILL", "--"])
                            .arg(format!("-{pgid}"))
                            .stderr(std::process::Stdio::null())
                            .status();
                        if !killed.is_ok_and(|s| s.success()) {
                            tracing::warn!(pgid, "could not kill the browser's process group");
                        }
                    }
                    let _ = child.kill().await;
                    Err(format!("timed out after {:?}", self.settings.timeout))
                }
            }
        }

        async fn brand_hash(&self, brand: &str, at: Option<&(String, IpAddr)>) -> Option<Hash> {
            if let Some((h, when)) = self.lock().get(brand)
                && when.elapsed() < self.refresh
            {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return *h;
            }
            let (url, ip) = at?;
            let out = self
                .settings
                .dir
                .join(format!("brand-{}.png", file_stem(brand)));
            let hash = match self.shoot(url, *ip, &out).await {
                Ok(()) => std::fs::read(&out).ok().and_then(|b| dhash(&b)),
                Err(e) => {
                    tracing::debug!(brand, error = %e, "no screenshot of the brand's page");
                    None
                }
            };
            self.lock().insert(brand.to_owned(), (hash, Instant::now()));
            hash
        }
    }

    fn file_stem(s: &str) -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect()
    }

    /// 256 bits: a 16×16 difference hash.
    pub(crate) type Hash = [u64; 4];

    /// Bits that differ.
    pub(crate) fn distance(a: &Hash, b: &Hash) -> u32 {
        a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|w| format!("{w:016x}")).collect()
    }

    /// A difference hash of a PNG: the image in grey, shrunk to 17×16 by
    /// averaging, one bit per pair of horizontal neighbours (is the left
    /// one brighter).
    pub(crate) fn dhash(png_bytes: &[u8]) -> Option<Hash> {
        const W: usize = 17;
        const H: usize = 16;
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().ok()?;
        let mut buf = vec![0; reader.output_buffer_size()?];
        let info = reader.next_frame(&mut buf).ok()?;
        let (w, h) = (info.width as usize, info.height as usize);
        let channels = info.color_type.samples();
        if w < W || h < H {
            return None;
        }
        let grey = |x: usize, y: usize| -> u64 {
            let i = (y * w + x) * channels;
            match channels {
                1 | 2 => u64::from(buf[i]),
                _ => {
                    (299 * u64::from(buf[i])
                        + 587 * u64::from(buf[i + 1])
                        + 114 * u64::from(buf[i + 2]))
                        / 1000
                }
            }
        };
        let mut cells = [[0u64; W]; H];
        for (cy, row) in cells.iter_mut().enumerate() {
            let (y0, y1) = (cy * h / H, ((cy + 1) * h / H).max(cy * h / H + 1));
            for (cx, cell) in row.iter_mut().enumerate() {
                let (x0, x1) = (cx * w / W, ((cx + 1) * w / W).max(cx * w / W + 1));
                // every other pixel each way is plenty for an average
                let (mut sum, mut n) = (0u64, 0u64);
                for y in (y0..y1).step_by(2) {
                    for x in (x0..x1).step_by(2) {
                        sum += grey(x, y);
                        n += 1;
                    }
                }
                *cell = sum / n.max(1);
            }
        }
        let mut out = [0u64; 4];
        for (y, row) in cells.iter().enumerate() {
            for x in 0..W - 1 {
                let bit = y * (W - 1) + x;
                if row[x] > row[x + 1] {
                    out[bit / 64] |= 1 << (63 - bit % 64);
                }
            }
        }
        Some(out)
    }

    impl crate::enrich::Enricher for Screenshot {
        fn name(&self) -> &'static str {
            "screenshot"
        }

        fn cache_hits(&self) -> u64 {
            self.hits.load(Ordering::Relaxed)
        }

        fn enrich<'a>(
            &'a self,
            target: &'a Target,
            found: &'a mut Findings,
        ) -> BoxFuture<'a, Finding> {
            Box::pin(async move {
                let Some((url, ip)) = found.page.clone() else {
                    return Finding::skipped(serde_json::Value::Null, "no live page to take");
                };
                if let Err(why) = self.pacer.wait(&ip.to_string()).await {
                    return Finding::pending(&why);
                }
                if let Err(e) = std::fs::create_dir_all(&self.settings.dir) {
                    return Finding::error(format!("{}: {e}", self.settings.dir.display()));
                }
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                let out: PathBuf = self
                    .settings
                    .dir
                    .join(format!("{}-{stamp}.png", file_stem(&target.host)));
                if let Err(e) = self.shoot(&url, ip, &out).await {
                    return Finding::error(e);
                }
                let bytes = std::fs::read(&out).unwrap_or_default();
                let hash = dhash(&bytes);
                let brand = self
                    .brand_hash(&target.brand, found.brand_page.as_ref())
                    .await;
                let distance = match (&hash, &brand) {
                    (Some(a), Some(b)) => Some(distance(a, b)),
                    _ => None,
                };
                let mut verdicts = Vec::new();
                if distance.is_some_and(|d| d <= self.settings.similar_below) {
                    verdicts.push("looks_like_brand".to_owned());
                }
                found.verdicts.extend(verdicts.iter().cloned());
                Finding::ok(json!({
                    "path": out,
                    "url": url,
                    "bytes": bytes.len(),
                    "dhash": hash.as_ref().map(hex),
                    "brand_dhash": brand.as_ref().map(hex),
                    "brand_distance": distance,
                    "verdicts": verdicts,
                }))
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::{Screenshot, ScreenshotSettings, dhash, distance};
        use std::os::unix::fs::PermissionsExt;
        use std::time::Duration;

        /// Dead or a zombie nobody reaped yet (both mean killed here).
        fn gone(pid: u32) -> bool {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => true,
                Ok(stat) => stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with('Z')),
            }
        }

        /// A "browser" that hangs and leaves a helper behind, as Chromium's
        /// renderer and GPU processes would: at the timeout the whole
        /// process group goes.
        #[tokio::test]
        async fn a_browser_that_hangs_is_killed_with_its_helpers_at_the_timeout() {
            let dir = tempfile::tempdir().unwrap();
            let pids = dir.path().join("helper.pid");
            let browser = dir.path().join("hanging-browser");
            std::fs::write(
                &browser,
                format!(
                    "#!/bin/sh\nsleep 300 &\necho $! > '{}'\nexec sleep 300\n",
                    pids.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
            let settings = ScreenshotSettings {
                enabled: true,
                chromium: browser,
                timeout: Duration::from_millis(700),
                ..ScreenshotSettings::default()
            };
            let shooter = Screenshot::new(settings, Duration::from_secs(60), "test");
            let started = std::time::Instant::now();
            let out = dir.path().join("shot.png");
            let err = shooter
                .shoot("http://paypa1.com/", "127.0.0.1".parse().unwrap(), &out)
                .await
                .unwrap_err();
            assert!(err.starts_with("timed out after"), "{err}");
            assert!(started.elapsed() < Duration::from_secs(10));
            let helper: u32 = std::fs::read_to_string(&pids)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !gone(helper) && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(gone(helper), "the helper {helper} outlived the timeout");
        }

        fn png(w: u32, h: u32, pixel: impl Fn(u32, u32) -> u8) -> Vec<u8> {
            let mut out = Vec::new();
            {
                let mut enc = png::Encoder::new(&mut out, w, h);
                enc.set_color(png::ColorType::Grayscale);
                enc.set_depth(png::BitDepth::Eight);
                let mut writer = enc.write_header().unwrap();
                let data: Vec<u8> = (0..h)
                    .flat_map(|y| (0..w).map(move |x| (x, y)))
                    .map(|(x, y)| pixel(x, y))
                    .collect();
                writer.write_image_data(&data).unwrap();
            }
            out
        }

        #[test]
        fn the_difference_hash_tells_pages_apart_and_not_small_changes() {
            let stripes = png(180, 160, |x, _| if (x / 20) % 2 == 0 { 250 } else { 10 });
            let stripes_noisy = png(180, 160, |x, y| {
                let v: u8 = if (x / 20) % 2 == 0 { 250 } else { 10 };
                if (x + y) % 97 == 0 { 128 } else { v }
            });
            let gradient = png(180, 160, |x, y| ((x + 2 * y) % 256) as u8);
            let (a, b, c) = (
                dhash(&stripes).unwrap(),
                dhash(&stripes_noisy).unwrap(),
                dhash(&gradient).unwrap(),
            );
            assert!(distance(&a, &b) <= 16, "{a:?} {b:?}");
            assert!(distance(&a, &c) > 40, "{a:?} {c:?}");
            assert_eq!(dhash(b"not a png"), None);
        }
    }
}
