"""The passive reply XML /wechat renders itself (instead of wechatpy's TextReply), and the replies made once."""

from __future__ import annotations

import xmltodict
from wechatpy.replies import TextReply

from wxbackend.wechat import replies


def test_text_reply_xml_reads_as_wechatpys_and_a_cdata_end_in_it_stays_text():
    for content in ("证书续期三步：\n1. <a href=\"https://x/h5\">去续期</a>", "a]]>b<&>]]>", ""):
        ours = xmltodict.parse(replies.text_xml("gh_test", "oUSER", content))["xml"]
        theirs = xmltodict.parse(TextReply(source="gh_test", target="oUSER", content="x").render())["xml"]
        assert list(ours) == list(theirs)
        assert (ours["Content"] or "") == content
        assert ours["FromUserName"] == "gh_test" and ours["ToUserName"] == "oUSER" and ours["MsgType"] == "text"
        assert ours["CreateTime"].isdigit()


def test_cached_replies_follow_the_base_url():
    assert "https://a.example/h5/" in replies.help_text("https://a.example")
    assert "https://b.example/h5/" in replies.help_text("https://b.example")
    assert "https://b.example/pc/renew" in replies.click_reply("https://b.example", "PC_RENEW")
    assert replies.click_reply("https://b.example", "NO_SUCH_KEY") is None


def test_messages_are_read_as_wechatpys_parser_reads_them():
    """`/wechat` parses a message once, with the C ElementTree: the message or event it makes is the one
    wechatpy's `parse_message` makes of the same XML."""
    from wechatpy import parse_message

    from wxbackend.wechat.inbound import check_shape, message_of, parse_fields

    head = "<ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[oUSER]]></FromUserName>" \
           "<CreateTime>1700000000</CreateTime>"
    bodies = [
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[ 续期 ]]></Content><MsgId>42</MsgId>",
        "<MsgType><![CDATA[text]]></MsgType><Content></Content><MsgId>43</MsgId>",
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey>RENEW_GUIDE</EventKey>",
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"
        "<EventKey><![CDATA[qrscene_123]]></EventKey><Ticket>T</Ticket>",
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"
        "<EventKey><![CDATA[scanbarcode|x]]></EventKey>",
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[teleport]]></Event>",
        "<MsgType><![CDATA[event]]></MsgType>",
        "<MsgType><![CDATA[device_text]]></MsgType><Content>x</Content>",
        "<MsgType><![CDATA[hologram]]></MsgType><MsgId>44</MsgId>",
    ]
    for body in bodies:
        xml = f"<xml>{head}{body}</xml>".encode()
        fields = parse_fields(xml)
        check_shape(fields)
        ours, theirs = message_of(fields), parse_message(xml)
        assert type(ours) is type(theirs), body
        assert ours._data == dict(theirs._data), body
