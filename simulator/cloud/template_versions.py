"""Launch template versions deleted one by one (`DeleteLaunchTemplateVersions`), which moto does not
serve, answered as EC2 documents it
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteLaunchTemplateVersions.html):

- the template is named by id or name, not both; an unknown one is `InvalidLaunchTemplateId.NotFound`
  / `InvalidLaunchTemplateName.NotFoundException` for the whole call;
- at most 200 versions per call;
- each version is reported deleted or not, with a `ResponseError` per refused one: a version that
  does not exist (or was deleted) is `launchTemplateVersionDoesNotExist`; the default version is
  refused ("you must first assign a different version as the default"; its code is not documented,
  so the generic `unexpectedError` of the documented codes is used);
- a deleted version is gone: `DescribeLaunchTemplateVersions` no longer lists it, asking for it by
  number is `InvalidLaunchTemplateId.VersionNotFound`, and a fleet naming it is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from simulator.cloud.protocol import AwsError, AwsRequest, numbered_values

MAX_VERSIONS = 200


class TemplateVersions:
    def __init__(self, ec2_for_caller: Callable[[AwsRequest], Any]) -> None:
        self._ec2_for_caller = ec2_for_caller
        # (template id, version number): template ids are unique across accounts and regions.
        self._deleted: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def is_deleted(self, template_id: str, version: int) -> bool:
        with self._lock:
            return (template_id, version) in self._deleted

    def _template(self, request: AwsRequest) -> dict[str, Any]:
        template_id = request.params.get("LaunchTemplateId", "")
        name = request.params.get("LaunchTemplateName", "")
        if bool(template_id) == bool(name):
            raise AwsError(
                "InvalidParameterCombination",
                "You must specify either the launch template ID or the launch template name in the request, "
                "but not both.",
            )
        lookup = {"LaunchTemplateIds": [template_id]} if template_id else {"LaunchTemplateNames": [name]}
        try:
            found = self._ec2_for_caller(request).describe_launch_templates(**lookup)["LaunchTemplates"]
        except ClientError:
            found = []
        if not found:
            if template_id:
                raise AwsError(
                    "InvalidLaunchTemplateId.NotFound",
                    f"The specified launch template, with template ID {template_id}, does not exist.",
                )
            raise AwsError(
                "InvalidLaunchTemplateName.NotFoundException",
                f"The specified launch template, with template name {name}, does not exist.",
            )
        return dict(found[0])

    def delete(self, request: AwsRequest) -> dict[str, Any]:
        template = self._template(request)
        template_id, name = template["LaunchTemplateId"], template["LaunchTemplateName"]
        asked = numbered_values(request.params, "LaunchTemplateVersion")
        if not asked:
            raise AwsError("MissingParameter", "The request must contain the parameter LaunchTemplateVersion")
        if len(asked) > MAX_VERSIONS:
            raise AwsError(
                "InvalidParameterValue",
                f"You can delete up to {MAX_VERSIONS} launch template versions at once.",
            )
        latest, default = int(template["LatestVersionNumber"]), int(template["DefaultVersionNumber"])
        done: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for raw in asked:
            number = int(raw) if raw.isdigit() else 0
            item = {"LaunchTemplateId": template_id, "LaunchTemplateName": name, "VersionNumber": number}
            key = (template_id, number)
            with self._lock:
                gone = key in self._deleted
                if not gone and 1 <= number <= latest and number != default:
                    self._deleted.add(key)
                    done.append(item)
                    continue
            if number == default and not gone:
                error = {
                    "Code": "unexpectedError",
                    "Message": "Cannot delete the default version of a launch template; set another version as the "
                    "default first, or delete the launch template.",
                }
            else:
                error = {
                    "Code": "launchTemplateVersionDoesNotExist",
                    "Message": f"Launch template version {raw} does not exist.",
                }
            refused.append({**item, "ResponseError": error})
        return {
            "SuccessfullyDeletedLaunchTemplateVersions": done,
            "UnsuccessfullyDeletedLaunchTemplateVersions": refused,
        }

    def describe(self, request: AwsRequest) -> dict[str, Any]:
        """DescribeLaunchTemplateVersions of one template, without its deleted versions."""
        template = self._template(request)
        template_id = template["LaunchTemplateId"]
        asked = numbered_values(request.params, "LaunchTemplateVersion")
        for raw in asked:
            if raw.isdigit() and self.is_deleted(template_id, int(raw)):
                raise AwsError(
                    "InvalidLaunchTemplateId.VersionNotFound",
                    f"Could not find launch template version {raw} for launch template {template_id}.",
                )
        kwargs: dict[str, Any] = {"LaunchTemplateId": template_id}
        if asked:
            kwargs["Versions"] = asked
        try:
            versions = self._ec2_for_caller(request).describe_launch_template_versions(**kwargs)[
                "LaunchTemplateVersions"
            ]
        except ClientError as error:
            details = error.response.get("Error", {})
            raise AwsError(
                str(details.get("Code", "InvalidParameterValue")), str(details.get("Message", ""))
            ) from error
        kept = [v for v in versions if not self.is_deleted(template_id, int(v["VersionNumber"]))]
        return {"LaunchTemplateVersions": kept}
