//! An in-memory Kubernetes API for the driver's unit tests (a seam: the real cluster is
//! `scripts/k8s-smoke`'s). It keeps objects by path, applies server-side apply, JSON merge
//! and strategic merge patches the way the API server does for the fields the driver uses,
//! gives Services cluster IPs, and plays the controllers: a Deployment of one replica gets a
//! running Pod, one of none loses it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

/// The state of the fake cluster.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Objects by path (`/api/v1/namespaces/ns/services/name`).
    pub(super) objects: BTreeMap<String, Value>,
    /// Every request: method, path and query, content type.
    pub(super) requests: Vec<(String, String, String)>,
    /// Answer every request with this status (401, 403) when set.
    pub(super) refuse: Option<u16>,
    /// The `Date` the API gives (an HTTP date), when set; now otherwise.
    pub(super) date: Option<String>,
    /// How pods' node containers are: `None` running, or waiting for this reason.
    pub(super) waiting: Option<String>,
    /// Cluster IPs given so far.
    ips: u8,
}

/// A client of a fresh fake cluster, and its state.
pub(super) fn cluster() -> (kube::Client, Arc<Mutex<State>>) {
    let state = Arc::new(Mutex::new(State::default()));
    let shared = state.clone();
    let service = tower::service_fn(move |request: Request<Body>| {
        let state = shared.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect_bytes().await?;
            let mut state = state.lock().unwrap();
            Ok::<_, kube::Error>(answer(&mut state, &parts, &body))
        }
    });
    (kube::Client::new(service, "default"), state)
}

fn respond(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn status(code: u16, reason: &str, message: &str) -> Response<Body> {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "code": code, "reason": reason, "message": message,
    });
    respond(code, &body)
}

fn answer(state: &mut State, parts: &http::request::Parts, body: &[u8]) -> Response<Body> {
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let kind = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    state.requests.push((parts.method.to_string(), format!("{path}?{query}"), kind.to_owned()));
    if let Some(code) = state.refuse {
        return status(code, "Unauthorized", "the server refused the credentials");
    }
    if path == "/version" {
        let date = state.date.clone().unwrap_or_else(|| httpdate::fmt_http_date(now()));
        let info = json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
            "compiler": "gc", "platform": "linux/amd64",
        });
        let mut response = respond(200, &info);
        response.headers_mut().insert("date", date.parse().unwrap());
        return response;
    }
    if let Some(pod) = path.strip_suffix("/log") {
        return match state.objects.get(pod) {
            Some(_) => Response::new(Body::from(b"line 1\nline 2\nline 3\n".to_vec())),
            None => status(404, "NotFound", "no such pod"),
        };
    }
    let value: Value =
        if body.is_empty() { Value::Null } else { serde_json::from_slice(body).unwrap() };
    let response = match parts.method.as_str() {
        "GET" if is_collection(&path) => list(state, &path, &query),
        "GET" => match state.objects.get(&path) {
            Some(object) => respond(200, object),
            None => status(404, "NotFound", &format!("{path} not found")),
        },
        "DELETE" => match state.objects.remove(&path) {
            Some(object) => respond(200, &object),
            None => status(404, "NotFound", &format!("{path} not found")),
        },
        "PATCH" => patch(state, &path, kind, value),
        method => status(405, "MethodNotAllowed", method),
    };
    reconcile(state);
    response
}

fn now() -> std::time::SystemTime {
    std::time::SystemTime::now()
}

/// Whether `path` names a collection (`…/namespaces/ns/pods`) rather than one object.
fn is_collection(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    parts.iter().position(|p| *p == "namespaces").is_some_and(|i| parts.len() == i + 3)
}

fn list(state: &State, path: &str, query: &str) -> Response<Body> {
    let selector = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("labelSelector="))
        .map(|s| s.replace("%2F", "/").replace("%3D", "="))
        .unwrap_or_default();
    let (key, wanted) = selector.split_once('=').unwrap_or(("", ""));
    let prefix = format!("{path}/");
    let items: Vec<Value> = state
        .objects
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix) && !p[prefix.len()..].contains('/'))
        .map(|(_, o)| o.clone())
        .filter(|o| key.is_empty() || o["metadata"]["labels"][key] == wanted)
        .collect();
    respond(200, &json!({ "kind": "List", "apiVersion": "v1", "metadata": {}, "items": items }))
}

fn patch(state: &mut State, path: &str, kind: &str, patch: Value) -> Response<Body> {
    let existing = state.objects.get(path).cloned();
    let object = match (kind, existing) {
        ("application/apply-patch+yaml", existing) => {
            let mut object = patch;
            // What the server fills in stays: the object's uid, a Service's cluster IP.
            if let Some(old) = existing {
                object["metadata"]["uid"] = old["metadata"]["uid"].clone();
                if let Some(ip) = old["spec"].get("clusterIP") {
                    object["spec"]["clusterIP"] = ip.clone();
                }
            } else {
                object["metadata"]["uid"] = json!(format!("uid-{}", state.objects.len()));
            }
            if object["kind"] == "Service" && object["spec"].get("clusterIP").is_none() {
                state.ips += 1;
                object["spec"]["clusterIP"] = json!(format!("10.96.0.{}", state.ips));
            }
            object
        }
        (_, None) => return status(404, "NotFound", &format!("{path} not found")),
        ("application/merge-patch+json", Some(mut object)) => {
            merge(&mut object, &patch, false);
            object
        }
        ("application/strategic-merge-patch+json", Some(mut object)) => {
            merge(&mut object, &patch, true);
            object
        }
        (other, _) => return status(415, "UnsupportedMediaType", other),
    };
    state.objects.insert(path.to_owned(), object.clone());
    respond(200, &object)
}

/// RFC 7386 merge of `patch` into `target`; `strategic` merges lists of named objects
/// (containers, env) by name, as a strategic merge patch does for them.
fn merge(target: &mut Value, patch: &Value, strategic: bool) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v, strategic);
                }
            }
        }
        (Value::Array(t), Value::Array(p))
            if strategic && p.iter().all(|v| v.get("name").is_some()) =>
        {
            for item in p {
                match t.iter_mut().find(|x| x.get("name") == item.get("name")) {
                    Some(old) => merge(old, item, strategic),
                    None => t.push(item.clone()),
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Plays the Deployment controller and the kubelet: each Deployment has as many Pods (one
/// at most) as its replicas, running its template's image.
fn reconcile(state: &mut State) {
    let deployments: Vec<(String, Value)> = state
        .objects
        .iter()
        .filter(|(p, _)| p.starts_with("/apis/apps/v1/") && p.contains("/deployments/"))
        .map(|(p, o)| (p.clone(), o.clone()))
        .collect();
    for (path, deployment) in deployments {
        let pod_path =
            path.replace("/apis/apps/v1/", "/api/v1/").replace("/deployments/", "/pods/") + "-0";
        let wanted = deployment["spec"]["replicas"].as_i64().unwrap_or(1) > 0;
        let image = &deployment["spec"]["template"]["spec"]["containers"][0]["image"];
        let running = state.objects.get(&pod_path).map(|p| &p["spec"]["containers"][0]["image"]);
        if !wanted || running.is_some_and(|i| i != image) {
            state.objects.remove(&pod_path);
        }
        if wanted && !state.objects.contains_key(&pod_path) {
            let container_state = match &state.waiting {
                None => json!({ "running": { "startedAt": "2026-12-02T00:00:00Z" } }),
                Some(reason) => json!({ "waiting": { "reason": reason, "message": "back-off" } }),
            };
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": pod_path.rsplit('/').next(),
                    "labels": deployment["spec"]["template"]["metadata"]["labels"],
                },
                "spec": deployment["spec"]["template"]["spec"],
                "status": {
                    "phase": "Running",
                    "containerStatuses": [{
                        "name": "node", "image": image, "imageID": "", "ready": true,
                        "restartCount": 2, "state": container_state,
                        "lastState": { "terminated": { "exitCode": 1 } },
                    }],
                },
            });
            state.objects.insert(pod_path, pod);
        }
    }
    let owners: Vec<String> = state.objects.keys().cloned().collect();
    state.objects.retain(|path, _| {
        // A Pod whose Deployment was deleted goes with it.
        !path.contains("/pods/")
            || owners.iter().any(|p| {
                p.contains("/deployments/")
                    && path.trim_end_matches("-0")
                        == p.replace("/apis/apps/v1/", "/api/v1/")
                            .replace("/deployments/", "/pods/")
            })
    });
}
