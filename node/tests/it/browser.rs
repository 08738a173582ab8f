//! Real headless Chromium for page tests, driven through WebDriver
//! (`chromedriver` from Debian's `chromium-driver`, fantoccini as client).

use std::{
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};

use crate::util::wait_for;

/// Generous: tests assert behaviour, not speed.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// One Chromium, with its own chromedriver and profile (cookies).
pub struct Browser {
    pub client: Client,
    driver: Child,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

impl Browser {
    /// A fresh browser; `extra_args` go to Chromium.
    pub async fn start(extra_args: &[&str]) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium chromium-driver; .ci/run does)");
        assert!(
            wait_for(PAGE_TIMEOUT, || TcpStream::connect(("127.0.0.1", port))
                .is_ok()),
            "chromedriver did not start"
        );
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--no-first-run",
            "--window-size=1200,1000",
        ];
        args.extend_from_slice(extra_args);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "args": args }),
        );
        // Some workspace builds carry two rustls crypto providers (ring
        // and aws-lc-rs, through other crates), and then rustls will not
        // pick one by itself. The WebDriver connection is plain HTTP on
        // loopback; any provider does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::rustls()
            .expect("TLS roots")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Browser { client, driver }
    }

    pub async fn go(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn find(&self, css: &str) -> Option<Element> {
        self.client.find(Locator::Css(css)).await.ok()
    }

    /// The element, waiting for it to appear.
    pub async fn wait_find(&self, css: &str) -> Element {
        let found = self
            .until(|b| async move { b.find(css).await.is_some() })
            .await;
        assert!(found, "no `{css}` on the page");
        self.find(css).await.expect("found a moment ago")
    }

    /// The visible text of `css`, or empty.
    pub async fn text(&self, css: &str) -> String {
        match self.find(css).await {
            Some(e) => e.text().await.unwrap_or_default(),
            None => String::new(),
        }
    }

    /// Poll `check` until it holds or [`PAGE_TIMEOUT`] passes.
    pub async fn until<'a, F, Fut>(&'a self, mut check: F) -> bool
    where
        F: FnMut(&'a Browser) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + PAGE_TIMEOUT;
        loop {
            if check(self).await {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Set a form control's value as a person would (type into inputs,
    /// choose in selects).
    pub async fn fill(&self, form: &str, name: &str, value: &str) {
        let control = self.wait_find(&format!("{form} [name={name}]")).await;
        if control.tag_name().await.unwrap_or_default() == "select" {
            self.client
                .execute(
                    "arguments[0].value = arguments[1]; \
                     arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
                    vec![
                        serde_json::to_value(&control).expect("element as JSON"),
                        value.into(),
                    ],
                )
                .await
                .expect("choose an option");
        } else {
            control.clear().await.expect("clear");
            control.send_keys(value).await.expect("type");
        }
    }

    pub async fn submit(&self, form: &str) {
        self.wait_find(&format!("{form} button[type=submit]"))
            .await
            .click()
            .await
            .expect("submit");
    }

    /// Decode the QR code drawn by `css`, from a screenshot of it.
    pub async fn qr_text(&self, css: &str) -> String {
        let element = self.wait_find(css).await;
        let png = element.screenshot().await.expect("a screenshot");
        let image = image::load_from_memory(&png)
            .expect("a PNG screenshot")
            .to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(image);
        let grids = prepared.detect_grids();
        let grid = grids.first().expect("a QR code in the screenshot");
        grid.decode().expect("a readable QR code").1
    }

    /// Save a screenshot of the whole window (for docs/).
    pub async fn save_screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(path, png).expect("write the screenshot");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
