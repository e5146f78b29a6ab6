"""The labeling page: web/ in a private bucket, served by CloudFront, which sends /api/* to the task API.

The bucket is reached only through CloudFront's origin access control; `/api/*` goes to the
HTTP API uncached, with every viewer header but Host (the Authorization header included: an
origin request policy forwarding all viewer headers carries it when caching is off). The page
reads `config.json`, written beside it at deploy time with the values CloudFormation knows.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.constructs.storage import private_bucket
from infra.paths import WEB_DIR

API_PATH = "/api/*"
PAGE_CONFIG = "config.json"


def page_config(*, hosted_ui_url: str, client_id: str, redirect_uri: str) -> dict[str, Any]:
    """What the page reads from /config.json (the local gateway serves its own, kind "local")."""
    return {
        "apiBase": "/api",
        "auth": {"kind": "cognito", "domain": hosted_ui_url, "clientId": client_id, "redirectUri": redirect_uri},
    }


class LabelingPage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, api_domain: str, log_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.bucket = private_bucket(
            self, "Site", server_access_logs_bucket=log_bucket, server_access_logs_prefix="site-bucket/",
        )
        api = cloudfront.BehaviorOptions(
            origin=origins.HttpOrigin(
                api_domain, protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            ),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
        )
        self.distribution = cloudfront.Distribution(
            self, "Distribution",
            comment="autolabel labeling page and task API",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
            ),
            additional_behaviors={API_PATH: api},
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True, log_bucket=log_bucket, log_file_prefix="cloudfront/",
        )

    @property
    def url(self) -> str:
        """https://<distribution domain>/ (also the page's OAuth redirect URI)."""
        return f"https://{self.distribution.distribution_domain_name}/"

    def deploy(self, config: dict[str, Any]) -> s3deploy.BucketDeployment:
        """web/ and config.json into the bucket, then a CloudFront invalidation.

        Without web/index.html (the page is built in another change) only config.json is
        deployed, and an error annotation makes `cdk synth`/`cdk deploy` stop with the reason;
        the tests and the local cloud, which synthesize in-process, carry on.
        """
        sources = [s3deploy.Source.json_data(PAGE_CONFIG, config)]
        if (WEB_DIR / "index.html").is_file():
            sources.insert(0, s3deploy.Source.asset(str(WEB_DIR), exclude=[PAGE_CONFIG, "**/__pycache__"]))
        else:
            Annotations.of(self).add_error(
                f"the labeling page is missing: {WEB_DIR}/index.html does not exist, so there is nothing "
                "to deploy to the site bucket; add web/ (the page) and synthesize again")
        return s3deploy.BucketDeployment(
            self, "Deploy", sources=sources, destination_bucket=self.bucket,
            distribution=self.distribution, distribution_paths=["/*"],
        )
