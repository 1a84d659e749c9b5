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
