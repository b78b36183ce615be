"""A small simulated AWS console: the CloudFormation quick-create page a "Launch stack" link opens,
and the stack's page (status, events, outputs), served by the cloud gateway under `/console/`.

The person using it is signed in as the customer account's administrator (the simulation's
customer account), as someone following a vendor's onboarding link is. The quick-create link has
AWS's shape, `<console>/cloudformation/home?region=<r>#/stacks/quickcreate?templateURL=…&stackName=…
&param_<Name>=…`: the part after `#` never reaches a server, so the home page forwards it (a line
of script), and the form then reads the template from the simulated S3 like the console does.
Creating the stack calls the simulated CloudFormation; nothing here knows the product.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qsl, urlencode

from simulator.cloud.cfn_stack import event_rows
from simulator.cloud.cfn_template import parse_template, required_capabilities
from simulator.cloud.cloudformation import CloudFormation
from simulator.cloud.protocol import AwsError

Reply = tuple[int, dict[str, str], bytes]
_STYLE = """
body{font:14px/1.45 "Amazon Ember",Helvetica,Arial,sans-serif;margin:0;background:#f2f3f3;color:#16191f}
header{background:#232f3e;color:#fff;padding:10px 20px;font-weight:bold}
header span{color:#ff9900}
main{max-width:1100px;margin:20px auto;padding:0 20px}
section{background:#fff;border:1px solid #d5dbdb;border-radius:2px;margin-bottom:16px;padding:16px 20px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:0 0 10px}
label{display:block;font-weight:bold;margin:12px 0 4px}
input[type=text]{width:100%;max-width:640px;padding:6px;border:1px solid #aab7b8;border-radius:2px;font:inherit}
.hint{color:#545b64;font-size:12px}
.error{background:#fde8e8;border:1px solid #d13212;color:#d13212;padding:10px 14px;margin-bottom:16px}
button{background:#ec7211;border:1px solid #ec7211;color:#fff;font-weight:bold;padding:8px 18px;border-radius:2px;cursor:pointer}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eaeded;white-space:nowrap}
td.wrap{white-space:normal}code{font-family:Menlo,Consolas,monospace;font-size:12px}
.status-CREATE_COMPLETE,.status-DELETE_COMPLETE{color:#1d8102;font-weight:bold}
.status-CREATE_FAILED,.status-ROLLBACK_COMPLETE,.status-ROLLBACK_IN_PROGRESS,.status-DELETE_FAILED{color:#d13212;font-weight:bold}
.status-CREATE_IN_PROGRESS,.status-DELETE_IN_PROGRESS{color:#0073bb;font-weight:bold}
"""


def _page(title: str, body: str, *, refresh: bool = False) -> Reply:
    meta = '<meta http-equiv="refresh" content="1">' if refresh else ""
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">{meta}<title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><header>AWS <span>Management Console</span> (simulated)"
        f"</header><main>{body}</main></body></html>"
    )
    return 200, {"Content-Type": "text/html; charset=utf-8"}, text.encode()


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


class CloudConsole:
    def __init__(self, stacks: CloudFormation, account_id: str, default_region: str) -> None:
        self.stacks = stacks
        self.account_id = account_id
        self.default_region = default_region

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply | None:
        params = dict(parse_qsl(query, keep_blank_values=True))
        route = path.removeprefix("/console").rstrip("/")
        if route == "/cloudformation/home":
            return self._home(params)
        if route == "/cloudformation/quickcreate":
            if method == "POST":
                return self._create(dict(parse_qsl(body.decode(), keep_blank_values=True)))
            return self._quick_create(params, error="")
        if route == "/cloudformation/stack":
            return self._stack(params)
        return None

    def _home(self, params: dict[str, str]) -> Reply:
        region = params.get("region", self.default_region)
        target = "/console/cloudformation/quickcreate?" + urlencode({"region": region})
        script = (
            "<script>var h=location.hash;if(h.indexOf('#/stacks/quickcreate?')===0)"
            f"{{location.replace('{target}&'+h.slice(21));}}</script>"
        )
        return _page(
            "CloudFormation",
            f"<section><h1>CloudFormation</h1><p>Stacks in {_e(region)}.</p></section>{script}",
        )

    def _quick_create(self, params: dict[str, str], *, error: str) -> Reply:
        region = params.get("region", self.default_region)
        template_url = params.get("templateURL", "")
        try:
            template = parse_template(self.stacks.template_at(template_url, self.account_id))
        except AwsError as failure:
            return _page("Quick create stack", f'<div class="error">{_e(failure.message)}</div>')
        declared: dict[str, Any] = template.get("Parameters") or {}
        fields = []
        for name, spec in declared.items():
            spec = spec or {}
            value = params.get(f"param_{name}", str(spec.get("Default", "")))
            fields.append(
                f'<label for="param_{_e(name)}">{_e(name)}</label>'
                f'<input type="text" id="param_{_e(name)}" name="param_{_e(name)}" value="{_e(value)}">'
                f'<div class="hint">{_e(spec.get("Description", ""))}</div>'
            )
        needed = required_capabilities(template)
        acknowledge = ""
        if needed:
            checked = " checked" if params.get("capability") else ""
            acknowledge = (
                "<section><h2>Capabilities</h2><label><input type=checkbox name=capability id=capability "
                f'value="{_e(needed[0])}"{checked}> I acknowledge that AWS CloudFormation might create IAM '
                f"resources{' with custom names' if needed == ['CAPABILITY_NAMED_IAM'] else ''}.</label></section>"
            )
        problem = f'<div class="error" role="alert">{_e(error)}</div>' if error else ""
        body = (
            f"<h1>Quick create stack</h1>{problem}"
            f'<form method="post" action="/console/cloudformation/quickcreate">'
            f'<input type="hidden" name="region" value="{_e(region)}">'
            f'<input type="hidden" name="templateURL" value="{_e(template_url)}">'
            f"<section><h2>Template</h2><p class=hint>Template URL: <code>{_e(template_url)}</code></p>"
            f"<p>{_e(template.get('Description', ''))}</p></section>"
            f'<section><h2>Stack name</h2><input type="text" id="stackName" name="stackName" '
            f'value="{_e(params.get("stackName", ""))}"></section>'
            f"<section><h2>Parameters</h2>{''.join(fields)}</section>{acknowledge}"
            f'<button type="submit" id="create-stack">Create stack</button></form>'
        )
        return _page("Quick create stack", body)

    def _create(self, form: dict[str, str]) -> Reply:
        region = form.get("region", self.default_region)
        try:
            body = self.stacks.template_at(form.get("templateURL", ""), self.account_id)
            stack = self.stacks.create_stack(
                self.account_id,
                region,
                name=form.get("stackName", ""),
                template_body=body,
                parameters={k.removeprefix("param_"): v for k, v in form.items() if k.startswith("param_")},
                capabilities=[form["capability"]] if form.get("capability") else [],
            )
        except AwsError as error:
            return self._quick_create(form, error=error.message)
        location = "/console/cloudformation/stack?" + urlencode({"region": region, "stackId": stack.stack_id})
        return 303, {"Location": location, "Content-Type": "text/plain"}, b""

    def _stack(self, params: dict[str, str]) -> Reply:
        region = params.get("region", self.default_region)
        try:
            (stack,) = self.stacks.describe(self.account_id, region, params.get("stackId", ""))[:1]
        except AwsError as error:
            return _page("Stack", f'<div class="error">{_e(error.message)}</div>')
        events = "".join(
            f"<tr><td>{_e(e['Timestamp'].strftime('%H:%M:%S'))}</td><td><code>{_e(e['LogicalResourceId'])}</code></td>"
            f'<td>{_e(e["ResourceType"])}</td><td class="status-{_e(e["ResourceStatus"])}">{_e(e["ResourceStatus"])}</td>'
            f"<td class=wrap>{_e(e.get('ResourceStatusReason', ''))}</td></tr>"
            for e in event_rows(stack)
        )
        outputs = "".join(
            f'<tr><td>{_e(k)}</td><td><code id="output-{_e(k)}">{_e(v)}</code></td></tr>'
            for k, v in stack.outputs.items()
        )
        body = (
            f'<h1>{_e(stack.name)}</h1><section><p>Status: <span id=stack-status class="status-{_e(stack.status)}">'
            f"{_e(stack.status)}</span></p><p class=hint>{_e(stack.status_reason)}</p>"
            f"<p class=hint>Stack ID <code>{_e(stack.stack_id)}</code></p></section>"
            f"<section><h2>Outputs</h2><table><tr><th>Key</th><th>Value</th></tr>{outputs or '<tr><td colspan=2>None yet</td></tr>'}</table></section>"
            f"<section><h2>Events</h2><table><tr><th>Time</th><th>Logical ID</th><th>Type</th><th>Status</th><th>Reason</th></tr>{events}</table></section>"
        )
        return _page(f"{stack.name} – CloudFormation", body, refresh=stack.status.endswith("_IN_PROGRESS"))
