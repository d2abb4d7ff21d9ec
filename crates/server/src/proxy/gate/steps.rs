//! One function per gated step: bind, check, claim, forward, record.

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use rgw_core::approval::{ChainStep, DeployDenial};
use rgw_core::rbac::DeployAction;
use rgw_core::{BuildId, GitSha, ReleaseId, RouteMatch};
use rgw_store::{Claim, ClaimExpect};
use serde_json::Value;

use super::bind::{Bound, approved, live, live_cached, none_found, refuse_with_newest};
use super::manifest;
use super::{Ctx, GateError, GateTrail};
use crate::approvals::sweeper::STALE_CLAIM;
use crate::proxy::form::Form;

pub(super) type Forwarded = Result<(Response<Body>, StatusCode), GateError>;

/// Largest build-create form and largest rack answer the gate reads.
const MAX_FORM: usize = 64 * 1024;
const MAX_ANSWER: usize = 1024 * 1024;

pub(super) async fn forward(ctx: &Ctx<'_>, req: Request<Body>) -> Forwarded {
    crate::proxy::forward::forward(
        ctx.state,
        ctx.principal,
        req,
        ctx.path,
        ctx.is_upgrade,
        ctx.json,
    )
    .await
    .map_err(GateError::from)
}

pub(super) fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(super) async fn commands(ctx: &Ctx<'_>) -> Result<Vec<String>, GateError> {
    Ok(crate::settings::list_setting(
        ctx.state,
        "approved_deploy_commands",
        Some(ctx.app.as_str()),
    )
    .await?)
}

pub(super) async fn claim(
    ctx: &Ctx<'_>,
    bound: &Bound,
    expect: ClaimExpect<'_>,
) -> Result<Claim, GateError> {
    use rgw_core::approval::Step;
    let step = match expect {
        ClaimExpect::Object { .. } => Step::ObjectUpload,
        ClaimExpect::Build { .. } => Step::Build,
        ClaimExpect::Promote { .. } => Step::Promote,
    };
    let now = ctx.state.clock.now();
    // `None`: another call won the claim, or the state moved on since the check.
    ctx.state
        .store
        .claim_step(bound.row.id, expect, now, now - STALE_CLAIM)
        .await?
        .ok_or_else(|| DeployDenial::InProgress { id: bound.id, step }.into())
}

pub(super) async fn release(ctx: &Ctx<'_>, claim: &Claim) {
    if let Err(e) = ctx
        .state
        .store
        .release_claim(claim, ctx.state.clock.now())
        .await
    {
        tracing::warn!(error = %e, "releasing a deploy chain claim failed; it lapses after 15 minutes");
    }
}

pub(super) fn lost_claim(bound: &Bound) -> GateError {
    GateError::failed(
        StatusCode::CONFLICT,
        format!(
            "deploy approval {} ended or its step was taken over while the call was in flight; nothing was recorded, request a new approval",
            bound.id
        ),
    )
}

pub(super) async fn collect(
    resp: Response<Body>,
) -> Result<(http::response::Parts, Bytes), GateError> {
    let (head, body) = resp.into_parts();
    let bytes = http_body_util::Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| {
            GateError::failed(
                StatusCode::BAD_GATEWAY,
                format!("reading the rack's answer failed: {e}"),
            )
        })?
        .to_bytes();
    Ok((head, bytes))
}

pub(super) fn id_field(bytes: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
}

fn rack<'a>(ctx: &Ctx<'a>) -> Result<&'a crate::rack::RackClient, GateError> {
    ctx.state.rack.as_ref().ok_or_else(|| {
        GateError::failed(
            StatusCode::SERVICE_UNAVAILABLE,
            "the gateway has no rack configured; set RGW_RACK_URL",
        )
    })
}

pub(super) async fn rack_json(ctx: &Ctx<'_>, path: &str) -> Result<Value, GateError> {
    rack(ctx)?.get_json(path).await.map_err(|e| {
        GateError::failed(
            StatusCode::BAD_GATEWAY,
            format!("checking the deploy against the rack failed: {e}"),
        )
    })
}

/// Records the release a completed build produced, when the approval has none yet.
pub(super) async fn ensure_release(ctx: &Ctx<'_>, bound: &mut Bound) -> Result<(), GateError> {
    let (Some(build), None) = (bound.build.clone(), bound.release.as_ref()) else {
        return Ok(());
    };
    let b = rack_json(ctx, &format!("/apps/{}/builds/{build}", ctx.app)).await?;
    let release = b.get("release").and_then(Value::as_str).unwrap_or_default();
    if b.get("status").and_then(Value::as_str) != Some("complete") || release.is_empty() {
        return Ok(());
    }
    let release = ReleaseId::parse(release).map_err(|e| {
        GateError::failed(
            StatusCode::BAD_GATEWAY,
            format!("the rack reported a malformed release for build {build}: {e}"),
        )
    })?;
    bound.check(
        ctx,
        &ChainStep::RecordRelease {
            build: &build,
            release: &release,
        },
        &[],
        false,
    )?;
    ctx.state
        .store
        .set_release_id(bound.row.id, release.as_str(), ctx.state.clock.now())
        .await?;
    bound.release = Some(release);
    Ok(())
}

/// `POST /apps/{app}/objects/{key}`.
pub(super) async fn upload(
    ctx: &Ctx<'_>,
    matched: &RouteMatch,
    req: Request<Body>,
    trail: &mut GateTrail,
) -> Forwarded {
    let key = matched
        .object_key()
        .ok_or_else(|| GateError::failed(StatusCode::BAD_REQUEST, "the object key is missing"))?;
    let url = key.object_url(ctx.app);
    let step = ChainStep::ObjectUpload { app: ctx.app, key };
    let live = approved(live(ctx).await?);
    let same: Vec<&Bound> = live
        .iter()
        .filter(|b| b.row.object_url.as_deref() == Some(url.as_str()))
        .collect();
    let fresh: Vec<&Bound> = live
        .iter()
        .filter(|b| b.row.object_url.is_none() && b.row.build_id.is_none())
        .collect();
    let bound = match (same.as_slice(), fresh.as_slice()) {
        ([b], _) | ([], [b]) => *b,
        ([], []) => return Err(refuse_with_newest(ctx, &live, &step, &[], None).await),
        (s, f) => {
            return Err(DeployDenial::Ambiguous {
                app: ctx.app.clone(),
                count: s.len() + f.len(),
            }
            .into());
        }
    };
    trail.approval = Some(bound.row.public_id);
    bound.check(ctx, &step, &[], false)?;
    let claim = claim(ctx, bound, ClaimExpect::Object { url: &url }).await?;
    match forward(ctx, req).await {
        Ok((resp, status)) if status.is_success() => {
            if !ctx
                .state
                .store
                .confirm_object(&claim, &url, ctx.state.clock.now())
                .await?
            {
                return Err(lost_claim(bound));
            }
            Ok((resp, status))
        }
        other => {
            release(ctx, &claim).await;
            other
        }
    }
}

/// The build-create form, refusing what the gate cannot check.
struct BuildForm {
    form: Form,
}

/// Build options the rack also reads from the query string or a header (Go's `FormValue` and
/// stdapi's `Value`): under a gate they must come from the one form the gate checked.
const BUILD_FIELDS: &[&str] = &[
    "url",
    "git-sha",
    "manifest",
    "external",
    "development",
    "no-cache",
    "build-args",
    "wildcard-domain",
    "description",
];

/// Refuses a query string and option headers: the rack would read them where the gate did not.
pub(super) fn only_in_body(
    uri: &http::Uri,
    headers: &HeaderMap,
    what: &str,
    fields: &[&str],
) -> Result<(), GateError> {
    if uri.query().is_some_and(|q| !q.is_empty()) {
        return Err(GateError::failed(
            StatusCode::BAD_REQUEST,
            format!(
                "{what} under a deploy approval takes no query string; send its options in the body"
            ),
        ));
    }
    if let Some(name) = fields.iter().find(|f| headers.contains_key(**f)) {
        return Err(GateError::failed(
            StatusCode::BAD_REQUEST,
            format!(
                "{what} under a deploy approval takes {name} only as a form field, not as a header"
            ),
        ));
    }
    Ok(())
}

impl BuildForm {
    async fn read(headers: &HeaderMap, body: Body) -> Result<Self, GateError> {
        if headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
        {
            return Err(GateError::failed(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "build create bodies must not be compressed; send a plain form",
            ));
        }
        let ct = header(headers, header::CONTENT_TYPE.as_str()).unwrap_or("");
        if !ct.starts_with("application/x-www-form-urlencoded") {
            return Err(GateError::failed(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "build create under a deploy approval must be a form (application/x-www-form-urlencoded) with url and git-sha; the legacy multipart upload is not accepted",
            ));
        }
        let bytes = http_body_util::Limited::new(body, MAX_FORM)
            .collect()
            .await
            .map_err(|_| {
                GateError::failed(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the build form is larger than {MAX_FORM} bytes"),
                )
            })?
            .to_bytes();
        let form =
            Form::parse(&bytes, &["url", "git-sha", "manifest", "external"]).map_err(|e| {
                GateError::failed(StatusCode::BAD_REQUEST, format!("build create: {e}"))
            })?;
        Ok(BuildForm { form })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.form.get(name)
    }
}

/// `POST /apps/{app}/builds`.
pub(super) async fn build(ctx: &Ctx<'_>, req: Request<Body>, trail: &mut GateTrail) -> Forwarded {
    let (mut parts, body) = req.into_parts();
    only_in_body(&parts.uri, &parts.headers, "build create", BUILD_FIELDS)?;
    let form = BuildForm::read(&parts.headers, body).await?;
    if form.get("external").is_some_and(|v| v != "false") {
        return Err(GateError::failed(
            StatusCode::FORBIDDEN,
            "external builds are not allowed under deploy approvals: their images are pushed outside the checked chain; build from the uploaded source",
        ));
    }
    let sent_sha = form.get("git-sha");
    let step = ChainStep::BuildCreate {
        app: ctx.app,
        url: form.get("url"),
        git_sha: sent_sha,
    };
    let live = approved(live(ctx).await?);
    let commit = sent_sha.and_then(|s| GitSha::parse(s).ok());
    let Some(bound) = commit
        .as_ref()
        .and_then(|c| live.iter().find(|b| &b.commit == c))
    else {
        return Err(refuse_with_newest(ctx, &live, &step, &[], commit.as_ref()).await);
    };
    trail.approval = Some(bound.row.public_id);
    let build_failed = match &bound.build {
        Some(b) => {
            let v = rack_json(ctx, &format!("/apps/{}/builds/{b}", ctx.app)).await?;
            v.get("status").and_then(Value::as_str) == Some("failed")
        }
        None => false,
    };
    bound.check(ctx, &step, &[], build_failed)?;
    let object_url = form.get("url").unwrap_or_default();
    let replacing = if build_failed {
        bound.row.build_id.as_deref()
    } else {
        None
    };
    let claim = claim(
        ctx,
        bound,
        ClaimExpect::Build {
            object_url,
            replacing,
        },
    )
    .await?;
    let checked = match manifest::patterns(ctx).await {
        Ok(Some(p)) => {
            manifest::check_upload(ctx, bound, object_url, form.get("manifest"), &p).await
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        release(ctx, &claim).await;
        return Err(e);
    }
    // The rack is sent the checked fields re-encoded, never the caller's bytes (see `form`);
    // hyper sets the new length.
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = Body::from(form.form.encode());
    match forward(ctx, Request::from_parts(parts, body)).await {
        Ok((resp, status)) if status.is_success() => {
            let (head, answer) = match collect(resp).await {
                Ok(x) => x,
                Err(e) => {
                    release(ctx, &claim).await;
                    return Err(e);
                }
            };
            let Some(id) = id_field(&answer).and_then(|s| BuildId::parse(&s).ok()) else {
                release(ctx, &claim).await;
                return Err(GateError::failed(
                    StatusCode::BAD_GATEWAY,
                    "the rack answered build create without a build id",
                ));
            };
            if !ctx
                .state
                .store
                .confirm_build(&claim, id.as_str(), ctx.state.clock.now())
                .await?
            {
                return Err(lost_claim(bound));
            }
            Ok((Response::from_parts(head, Body::from(answer)), status))
        }
        other => {
            release(ctx, &claim).await;
            other
        }
    }
}

/// `GET builds/{id}` and the build log socket: the approved build only. Read-only, so it is
/// first allowed from the cached lookup; a refusal is decided on the database.
pub(super) async fn build_read(
    ctx: &Ctx<'_>,
    matched: &RouteMatch,
    req: Request<Body>,
    trail: &mut GateTrail,
) -> Forwarded {
    let build = matched
        .build_id()
        .ok_or_else(|| GateError::failed(StatusCode::BAD_REQUEST, "the build id is missing"))?;
    let step = ChainStep::BuildRead {
        app: ctx.app,
        build,
    };
    let cached = approved(live_cached(ctx).await?);
    if let Some(bound) = cached.iter().find(|b| b.build.as_ref() == Some(build))
        && bound.check(ctx, &step, &[], false).is_ok()
    {
        trail.approval = Some(bound.row.public_id);
        return forward(ctx, req).await;
    }
    let live = approved(live(ctx).await?);
    let Some(bound) = live.iter().find(|b| b.build.as_ref() == Some(build)) else {
        return Err(refuse_with_newest(ctx, &live, &step, &[], None).await);
    };
    trail.approval = Some(bound.row.public_id);
    bound.check(ctx, &step, &[], false)?;
    forward(ctx, req).await
}

/// The app log socket, while an approval of the token for the app is live (or just deployed).
/// Read-only: allowed from the cached lookup as [`build_read`].
pub(super) async fn app_logs(
    ctx: &Ctx<'_>,
    req: Request<Body>,
    trail: &mut GateTrail,
) -> Forwarded {
    let step = ChainStep::AppLogs { app: ctx.app };
    let allows = |live: &[Bound]| {
        live.iter()
            .find(|b| b.check(ctx, &step, &[], false).is_ok())
            .map(|b| b.row.public_id)
    };
    let found = match allows(&live_cached(ctx).await?) {
        Some(id) => Some(id),
        None => allows(&live(ctx).await?),
    };
    let Some(id) = found else {
        return Err(none_found(ctx, None).await);
    };
    trail.approval = Some(id);
    forward(ctx, req).await
}

/// Exec into or stop a process started under the approval.
pub(super) async fn process(
    ctx: &Ctx<'_>,
    matched: &RouteMatch,
    action: DeployAction,
    req: Request<Body>,
    trail: &mut GateTrail,
) -> Forwarded {
    let pid = matched
        .pid()
        .ok_or_else(|| GateError::failed(StatusCode::BAD_REQUEST, "the process id is missing"))?;
    let command = header(req.headers(), "command").map(str::to_owned);
    let commands = commands(ctx).await?;
    let step = match action {
        DeployAction::ProcessExec => ChainStep::ProcessExec {
            app: ctx.app,
            pid,
            command: command.as_deref(),
        },
        _ => ChainStep::ProcessStop { app: ctx.app, pid },
    };
    let live = approved(live(ctx).await?);
    let Some(bound) = live.iter().find(|b| b.pids.iter().any(|p| p == pid)) else {
        return Err(refuse_with_newest(ctx, &live, &step, &commands, None).await);
    };
    trail.approval = Some(bound.row.public_id);
    bound.check(ctx, &step, &commands, false)?;
    forward(ctx, req).await
}
