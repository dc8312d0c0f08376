"""Accounts: a Cognito user pool that signs people in by email, the gallery's app client, and
the pool's managed sign-in pages on a Cognito domain.

The page signs in with the authorization code grant and PKCE (a public client: no secret to
keep in a browser) and sends the ID token to the API, whose authorizers check it.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from stacks.acknowledgements import acknowledge
from stacks.settings import Settings

ID_TOKEN_VALIDITY = Duration.hours(1)
ACCESS_TOKEN_VALIDITY = Duration.hours(1)
REFRESH_TOKEN_VALIDITY = Duration.days(30)


class Accounts(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        keep = settings.removal == RemovalPolicy.RETAIN
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,  # Alice@example.com is alice@example.com
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            self_sign_up_enabled=settings.sign_up == "open",
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=8,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OFF,
            # Lite: sign-up, sign-in and the classic hosted pages, the cheapest plan.
            feature_plan=cognito.FeaturePlan.LITE,
            deletion_protection=keep,
            removal_policy=settings.removal,
        )
        # The managed sign-in pages on `<prefix>.auth.<region>.amazoncognito.com`. A prefix is
        # unique per region across every AWS account, so it carries the stack's own id.
        stack_uuid = Fn.select(2, Fn.split("/", Aws.STACK_ID))
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=Fn.join("-", ["photos", stack_uuid])
            ),
            managed_login_version=cognito.ManagedLoginVersion.CLASSIC_HOSTED_UI,
        )
        self.domain_url: str = self.domain.base_url()
        self.client: cognito.UserPoolClient | None = None
        acknowledge(
            self.user_pool,
            {
                "AwsSolutions-COG2": "MFA is off: the pool guards photos, not money or other "
                "people's data, and the Lite plan's MFA is SMS (billed per message) or TOTP, "
                "which the page would have to enrol; turn it on with the pool's mfa setting",
                "AwsSolutions-COG8": "The Lite feature plan, not Plus: Plus's threat protection "
                "(advanced security) lists at $0.020 per monthly active user against Lite's "
                "$0.0055, with no free tier; Cognito's sign-in rate quotas and lockout after "
                "repeated failures bound password guessing",
            },
        )

    def add_gallery_client(self, *, public_host: str) -> cognito.UserPoolClient:
        """The page's app client, whose sign-in returns to `https://<public_host>/`: known only
        once the distribution exists, which depends on the API, hence a step of its own."""
        url = f"https://{public_host}/"
        self.client = self.user_pool.add_client(
            "Gallery",
            generate_secret=False,  # a public client: the page has nowhere to keep a secret
            # Scripts sign in with USER_PASSWORD_AUTH (or SRP) to get an ID token; the page
            # through the managed pages (OAuth code grant with PKCE).
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[
                    cognito.OAuthScope.OPENID,
                    cognito.OAuthScope.EMAIL,
                    cognito.OAuthScope.PROFILE,
                ],
                callback_urls=[url],
                logout_urls=[url],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            id_token_validity=ID_TOKEN_VALIDITY,
            access_token_validity=ACCESS_TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
            enable_token_revocation=True,
        )
        return self.client
