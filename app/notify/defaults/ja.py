"""Built-in notification templates: Japanese."""

# Full-width colons and parentheses are correct Japanese typography, not look-alikes of ASCII.
# ruff: noqa: RUF001

TEMPLATES = {
    "acknowledgement": (
        "お問い合わせを受け付けました：{{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
{% if requester_name %}
{{ requester_name }} 様
{% endif %}

お問い合わせいただき、ありがとうございます。
以下の内容を受付番号 {{ ticket_reference }} にて承りました。

    {{ ticket_subject }}

担当者より改めてご連絡いたしますので、今しばらくお待ちください。
追加のご連絡は、件名の [#{{ ticket_reference }}] を残したまま、
このメールにご返信ください。

{% if ticket_url %}
お問い合わせの状況はこちらでご確認いただけます：
{{ ticket_url }}

{% endif %}
{{ mailbox_name or tenant_name }}
""",
    ),
    "agent_reply": (
        "Re: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
{{ reply_text }}

---
お問い合わせ番号 {{ ticket_reference }}：{{ ticket_status }}
{% if ticket_url %}
{{ ticket_url }}
{% endif %}
""",
    ),
    "status_changed": (
        "【{{ ticket_status }}】{{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
{% if requester_name %}
{{ requester_name }} 様
{% endif %}

お問い合わせ {{ ticket_reference }}（{{ ticket_subject }}）の
ステータスが「{{ ticket_status }}」に変更されました。

{% if ticket_url %}
お問い合わせの内容はこちらでご確認いただけます：
{{ ticket_url }}

{% endif %}
ご不明な点がございましたら、このメールにご返信ください。

{{ mailbox_name or tenant_name }}
""",
    ),
    "escalation": (
        "【エスカレーション】{{ ticket_reference }} {{ ticket_subject }}",
        """\
チケット {{ ticket_reference }} がエスカレーションされました。
{% if reason %}
理由：{{ reason }}
{% endif %}

件名：      {{ ticket_subject }}
依頼者：    {{ requester_name or requester_email }}
ステータス：{{ ticket_status }}
担当者：    {{ assignee_name or "未割り当て" }}
{% if created_at %}
受付日時：  {{ created_at }}
{% endif %}

{{ ticket_url }}
""",
    ),
    "attachment_withheld": (
        "添付ファイルを受け付けられませんでした：{{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
{% if requester_name %}
{{ requester_name }} 様
{% endif %}

メール「{{ ticket_subject }}」（{{ ticket_reference }}）を受信しましたが、
次の添付ファイルを受け付けることができませんでした：
{{ attachments }}
{% if reason %}
理由：{{ reason }}
{% endif %}

サイズが大きすぎるファイルや、受け付けていない種類のファイルは、
セキュリティ上の理由により保留しております。
お手数ですが、圧縮する、またはリンクで共有するなど別の方法で、
このメールへの返信としてお送りください。

{{ mailbox_name or tenant_name }}
""",
    ),
    "reauth_required": (
        "【要対応】メールボックス {{ mailbox_address }} の再接続が必要です",
        """\
管理者各位

メールボックス「{{ mailbox_name }}」（{{ mailbox_address }}）が
メールサーバーにサインインできなくなりました。
{% if reason %}
理由：{{ reason }}
{% endif %}

再接続するまで、新しいメールの受信と、このメールボックスからの
返信の送信は行われません。こちらから再接続してください：
{{ mailbox_url }}

Postroom（{{ tenant_name }}）
""",
    ),
    "delivery_failed": (
        "返信を配信できませんでした：{{ ticket_reference }} {{ ticket_subject }}",
        """\
{% if assignee_name %}
{{ assignee_name }} さん
{% endif %}

チケット {{ ticket_reference }}（{{ ticket_subject }}）への返信を
{{ recipients or requester_email }} に配信できませんでした。

理由：{{ reason }}

アドレスを確認するか、別の方法で依頼者にご連絡ください：
{{ ticket_url }}
""",
    ),
    "invitation": (
        "Postroom の {{ tenant_name }} への招待",
        """\
{% if inviter_name %}
{{ inviter_name }} さんから、Postroom の {{ tenant_name }} への招待が届いています。
{% else %}
Postroom の {{ tenant_name }} への招待が届いています。
{% endif %}
Postroom では、チームでサービスデスクのメールに対応しています。

招待を受け入れるには、次のリンクを開いてください：
{{ invitation_url }}

このリンクの有効期限は限られています。
お心当たりのない場合は、このメールを破棄してください。
""",
    ),
    "mailbox_failing": (
        "メールボックス {{ mailbox_address }} でエラーが続いています",
        """\
管理者各位

メールボックス「{{ mailbox_name }}」（{{ mailbox_address }}）で
エラーが連続して発生しています。
{% if reason %}
最後のエラー：{{ reason }}
{% endif %}

解決するまで、新しいメールがサービスデスクに届かない可能性があります。
メールボックスの状態と接続ログはこちらでご確認いただけます：
{{ mailbox_url }}

Postroom（{{ tenant_name }}）
""",
    ),
    "webhook_disabled": (
        'Webhook {{ webhook_url }} を停止しました',
        """\
お疲れさまです。

Webhook エンドポイント {{ webhook_url }} への送信が繰り返し失敗したため、
このエンドポイントを停止しました。
{% if reason %}
理由: {{ reason }}
{% endif %}

未送信のイベントは保存されており、エンドポイントが復旧したら再送できます。
Webhook の設定と配信ログ:
{{ webhooks_url }}

Postroom（{{ tenant_name }}）
""",
    ),
    "alert_opened": (
        "アラート：{{ alert_title }}",
        """\
管理者各位

{{ tenant_name }} のアラートルールが問題を検知しました：{{ alert_title }}

{{ alert_detail }}

解消されると、改めてメールでお知らせします。未解決のアラートと
アラートルールはこちら：
{{ alerts_url }}

Postroom（{{ tenant_name }}）
""",
    ),
    "alert_resolved": (
        "解消：{{ alert_title }}",
        """\
管理者各位

アラートで報告された問題が解消しました：{{ alert_title }}

{{ alert_detail }}

アラートとアラートルールはこちら：
{{ alerts_url }}

Postroom（{{ tenant_name }}）
""",
    ),
}
