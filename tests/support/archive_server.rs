//! The local HTTP stand-in laid out like NOAA's archive servers: a directory answers with an
//! HTML listing (as NCEI's and SWPC's servers do), a file with its bytes.

use std::path::Path;

use testkit::upstream::{Respond, UpstreamServer};

/// An HTML directory listing of `names` (sub-directories end in `/`), with a parent link.
pub fn html_listing(names: &[String]) -> Respond {
    let links: String = names
        .iter()
        .map(|n| format!("<a href=\"{n}\">{n}</a>\n"))
        .collect();
    Respond {
        status: 200,
        body: format!("<html><body><a href=\"../\">Parent</a>\n{links}</body></html>").into(),
        headers: vec![("Content-Type".into(), "text/html".into())],
        etag: None,
        last_modified: None,
        gzip: false,
    }
}

/// A file's bytes with its content type.
pub fn file_body(bytes: Vec<u8>, content_type: &str) -> Respond {
    Respond {
        status: 200,
        body: bytes.into(),
        headers: vec![("Content-Type".into(), content_type.into())],
        etag: None,
        last_modified: None,
        gzip: false,
    }
}

/// Serves the tree under `dir` at `prefix` (e.g. "/ncei"): every directory as a listing,
/// every file as itself.
pub fn serve_tree(upstream: &UpstreamServer, prefix: &str, dir: &Path) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("a fixture directory")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    let mut names = Vec::new();
    for path in entries {
        let name = path
            .file_name()
            .expect("a named entry")
            .to_string_lossy()
            .to_string();
        let at = format!("{prefix}/{name}");
        if path.is_dir() {
            serve_tree(upstream, &at, &path);
            names.push(format!("{name}/"));
        } else {
            let bytes = std::fs::read(&path).expect("a fixture file");
            let kind = if name.ends_with(".nc") {
                "application/x-netcdf"
            } else {
                "text/plain"
            };
            upstream.set_response(&at, file_body(bytes, kind));
            names.push(name);
        }
    }
    upstream.set_response(&format!("{prefix}/"), html_listing(&names));
}
