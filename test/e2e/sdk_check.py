"""Drives a kvmstack cloud with the real openstacksdk and prints what it saw as one JSON object.

Usage:
  sdk_check.py args AUTH_URL USERNAME PASSWORD PROJECT_NAME NEW_PROJECT_NAME
      connect with explicit arguments (user and project in the Default domain)
  sdk_check.py cloud NEW_PROJECT_NAME
      connect with the cloud named by OS_CLOUD in the clouds.yaml named by OS_CLIENT_CONFIG_FILE

Either way: authorize (get a token), list projects, users and roles through conn.identity, create a project,
show it, delete it, and validate the token (GET /v3/auth/tokens with X-Subject-Token) before and after revoking a
second token. Errors are reported in the JSON (key "error") and make the exit code 1.
"""

import json
import sys
import traceback

import openstack
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


def identity_url(conn):
    return conn.session.get_endpoint(service_type="identity", interface="public").rstrip("/")


def password_session(conn, password):
    """A keystoneauth session of its own (openstack.connect would let OS_CLOUD override its arguments)."""
    auth = conn.config.auth
    plugin = v3.Password(
        auth_url=auth["auth_url"],
        username=auth["username"],
        password=password,
        project_name=auth["project_name"],
        user_domain_name=auth.get("user_domain_name") or "Default",
        project_domain_name=auth.get("project_domain_name") or "Default",
    )
    return ks_session.Session(auth=plugin)


def validate(conn, url, token):
    """Status and body of GET {identity}/auth/tokens for `token`, authenticated as the connection."""
    resp = conn.session.get(
        url + "/auth/tokens",
        headers={"X-Subject-Token": token},
        raise_exc=False,
        authenticated=True,
    )
    return resp.status_code, (resp.json() if resp.content else None), resp.headers.get("X-Subject-Token")


def check(conn, new_project):
    out = {}
    token = conn.authorize()
    out["token"] = token
    out["token_is_jws"] = token.count(".") == 2
    url = identity_url(conn)
    out["identity_endpoint"] = url
    out["current_project_id"] = conn.current_project_id
    out["current_user_id"] = conn.current_user_id

    out["projects"] = sorted(p.name for p in conn.identity.projects())
    out["users"] = sorted(u.name for u in conn.identity.users())
    out["roles"] = sorted(r.name for r in conn.identity.roles())
    out["domains"] = sorted(d.name for d in conn.identity.domains())
    out["services"] = sorted(s.type for s in conn.identity.services())
    out["regions"] = sorted(r.id for r in conn.identity.regions())

    project = conn.identity.create_project(name=new_project, description="made by openstacksdk", domain_id="default")
    out["created_project"] = {"id": project.id, "name": project.name, "description": project.description}
    shown = conn.identity.get_project(project.id)
    out["shown_project"] = {"id": shown.id, "name": shown.name, "description": shown.description, "enabled": shown.is_enabled}
    out["found_by_name"] = getattr(conn.identity.find_project(new_project), "id", None)
    out["projects_after_create"] = sorted(p.name for p in conn.identity.projects())
    conn.identity.delete_project(project.id)
    out["projects_after_delete"] = sorted(p.name for p in conn.identity.projects())
    out["found_after_delete"] = getattr(conn.identity.find_project(new_project, ignore_missing=True), "id", None)
    try:
        conn.identity.get_project(project.id)
        out["get_deleted_project"] = "found"
    except openstack.exceptions.ResourceNotFound:
        out["get_deleted_project"] = "ResourceNotFound"

    status, body, subject = validate(conn, url, token)
    out["validate_own"] = {
        "status": status,
        "subject_matches": subject == token,
        "user": body["token"]["user"]["name"] if body else None,
        "project": (body["token"].get("project") or {}).get("name") if body else None,
        "roles": sorted(r["name"] for r in body["token"]["roles"]) if body else None,
        "catalog_types": sorted(c["type"] for c in body["token"].get("catalog", [])) if body else None,
    }

    # A second, independent session: its token validates, then is revoked and no longer does.
    other = password_session(conn, conn.config.auth["password"])
    other_token = other.get_token()
    out["other_token_differs"] = other_token != token
    out["validate_other_before_revoke"] = validate(conn, url, other_token)[0]
    revoke = conn.session.delete(url + "/auth/tokens", headers={"X-Subject-Token": other_token}, raise_exc=False)
    out["revoke_status"] = revoke.status_code
    out["validate_other_after_revoke"] = validate(conn, url, other_token)[0]
    out["validate_garbage"] = validate(conn, url, "not-a-token")[0]

    bad = password_session(conn, "wrong-" + conn.config.auth["password"])
    try:
        bad.get_token()
        out["wrong_password"] = "authorized"
    except ks_exc.Unauthorized as exc:
        out["wrong_password"] = type(exc).__name__
    return out


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "args" and len(argv) == 7:
        auth_url, username, password, project_name, new_project = argv[2:7]
        conn = openstack.connect(
            auth_url=auth_url,
            username=username,
            password=password,
            project_name=project_name,
            user_domain_name="Default",
            project_domain_name="Default",
            region_name="RegionOne",
            identity_api_version="3",
        )
    elif mode == "cloud" and len(argv) == 3:
        new_project = argv[2]
        conn = openstack.connect()  # OS_CLOUD + OS_CLIENT_CONFIG_FILE
    else:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        out = check(conn, new_project)
        out["ok"] = True
        print(json.dumps(out, indent=1, sort_keys=True))
        return 0
    except Exception as exc:  # report, never hide
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
