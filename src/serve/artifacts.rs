//! Artifact downloads: `GET /api/runs/{id}/artifacts` lists a run's artifacts and their
//! files; `GET /api/runs/{id}/artifacts/{name}/{*path}` sends one file. Nothing in the
//! request becomes a path: the run is one the history knows, the artifact one of the
//! manifests listed for it, and the file is looked up in that manifest (its name byte for
//! byte) and read from the content store by the hash the manifest records.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::App;
use super::actions::resolve;
use super::auth::{Caller, Refusal};
use crate::runtime::artifacts::Manifest;
use crate::runtime::state::Layout;

/// The manifests of run `id` (it was resolved against the history), by name.
fn manifests(app: &App, id: &str) -> Vec<(String, Manifest)> {
    let folder = Layout::of(&app.state_dir).dir().join("artifacts").join(id);
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Manifest)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().into_string().ok()?;
            let name = file.strip_suffix(".json")?.to_string();
            let text = crate::runtime::bounded::read_text(&e.path(), 64 << 20).ok()?;
            Some((name, serde_json::from_str(&text).ok()?))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn not_found(what: String) -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, what)
}

/// The artifacts of a run as the run page and the API list them.
pub(crate) async fn listing(app: &Arc<App>, id: &str) -> Vec<Value> {
    let (a, id) = (app.clone(), id.to_string());
    tokio::task::spawn_blocking(move || {
        manifests(&a, &id)
            .into_iter()
            .map(|(name, m)| {
                let files: Vec<String> = if m.single_file {
                    let base = std::path::Path::new(&m.path).file_name();
                    vec![base.and_then(|b| b.to_str()).unwrap_or(&name).to_string()]
                } else {
                    m.files
                        .iter()
                        .filter(|f| f.link.is_none())
                        .filter_map(|f| f.rel.0.to_str().map(str::to_string))
                        .collect()
                };
                json!({"name": name, "path": m.path, "single_file": m.single_file, "files": files})
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// `GET /api/runs/{id}/artifacts`.
pub(crate) async fn list(
    State(app): State<Arc<App>>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let id = resolve(&app, &id).await?;
    Ok(axum::Json(Value::Array(listing(&app, &id).await)).into_response())
}

/// `GET /api/runs/{id}/artifacts/{name}/{*path}` (a single-file artifact: any name after
/// `{name}/`, its file's name in the listing).
pub(crate) async fn download(
    State(app): State<Arc<App>>,
    _: Caller,
    Path((id, name, path)): Path<(String, String, String)>,
) -> Result<Response, Refusal> {
    let id = resolve(&app, &id).await?;
    let (a, run) = (app.clone(), id.clone());
    let found = tokio::task::spawn_blocking(move || manifests(&a, &run))
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|(n, _)| *n == name);
    let Some((_, manifest)) = found else {
        return Err(not_found(format!("run {id} has no artifact `{name}`")));
    };
    let entry = manifest
        .files
        .iter()
        .filter(|f| f.link.is_none())
        .find(|f| manifest.single_file || f.rel.0.as_encoded_bytes() == path.as_bytes())
        .ok_or_else(|| {
            not_found(format!(
                "artifact `{name}` of run {id} has no file `{path}`"
            ))
        })?;
    if entry.sha256.len() != 64 || !entry.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found(format!(
            "artifact `{name}` of run {id}: no such file"
        )));
    }
    let blob = Layout::of(&app.state_dir).blob(&entry.sha256);
    let file = tokio::fs::File::open(&blob)
        .await
        .map_err(|e| Refusal::from(format!("cannot read the stored file: {e}")))?;
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let file_name = std::path::Path::new(&path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(&name)
        .replace(['"', '\\', '\r', '\n'], "_");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
