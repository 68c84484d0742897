"""SMS senders, chosen by the SMS_SENDER setting (SPEC §7).

- ``ConsoleSender`` (default): logs the message; nothing leaves the machine.
- ``MemorySender`` (tests): keeps messages in ``MemorySender.outbox``.
- ``AliyunSender`` (production): the provider's SMS SDK
  (``alibabacloud-dysmsapi20170525``), credentials from the environment.
"""

import json
import logging

from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """The provider refused or failed to send; the text goes to last_error."""


class ConsoleSender:
    def send(self, *, to: str, template: str, params: dict) -> str:
        logger.info(
            "SMS to %s: %s %s", to, template, json.dumps(params, sort_keys=True)
        )
        return "console"


class MemorySender:
    outbox: list[dict] = []

    def send(self, *, to: str, template: str, params: dict) -> str:
        MemorySender.outbox.append({"to": to, "template": template, "params": params})
        return f"memory-{len(MemorySender.outbox)}"


class AliyunSender:
    """Send through Alibaba Cloud SMS (Dysmsapi ``SendSms``).

    Settings (from the environment): ALIYUN_ACCESS_KEY_ID, ALIYUN_ACCESS_KEY_SECRET,
    ALIYUN_SMS_SIGN_NAME, ALIYUN_SMS_TEMPLATES (JSON: our template -> the
    provider's template code), ALIYUN_SMS_ENDPOINT.
    """

    def __init__(self):

        config = open_api_models.Config(
            access_key_id=settings.ALIYUN_ACCESS_KEY_ID,
            access_key_secret=settings.ALIYUN_ACCESS_KEY_SECRET,
            endpoint=settings.ALIYUN_SMS_ENDPOINT,
        )
        self.client = Client(config)

    def send(self, *, to: str, template: str, params: dict) -> str:

        code = settings.ALIYUN_SMS_TEMPLATES.get(template)
        if not code:
            raise SmsError(f"no provider template code configured for {template!r}")
        request = sms_models.SendSmsRequest(
            phone_numbers=to.removeprefix("+"),
            sign_name=settings.ALIYUN_SMS_SIGN_NAME,
            template_code=code,
            template_param=json.dumps(params, sort_keys=True),
        )
        try:
            response = self.client.send_sms(request)
        except Exception as exc:  # the SDK raises its own TeaException family
            raise SmsError(str(exc)) from exc
        body = response.body
        if body.code != "OK":
            raise SmsError(f"{body.code}: {body.message}")
        return body.biz_id or ""


def get_sender():
    return import_string(settings.SMS_SENDER)()
