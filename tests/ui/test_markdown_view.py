"""Untrusted Markdown: raw HTML escaped, nothing remote loaded, links not followed."""

import base64

from PySide6.QtCore import QUrl

from ui.widgets.markdown_view import SafeTextBrowser, markdown_html, render_answer, render_conversation

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def test_raw_html_is_escaped_not_rendered():
    html = markdown_html('<script>alert(1)</script> <img src="http://evil/x.png"> <b>bold</b>\n\n'
                         '<div style="background:url(http://evil/y)">x</div>')
    assert "<script" not in html and "<img" not in html and "<div" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def test_markdown_images_become_notes_and_lists_work_without_blank_lines():
    html = markdown_html("Here:\n- rest\n- ice\n\n![scan](https://example.org/scan.png)")
    assert "<li>rest</li>" in html and "<img" not in html
    assert "[image not shown: scan]" in html


def test_the_view_fetches_nothing_remote(qtbot):
    view = SafeTextBrowser()
    qtbot.addWidget(view)
    view.show_document(render_answer("[site](http://example.org) ![x](http://example.org/x.png)"))
    view.setHtml('<img src="http://example.org/tracker.png"><p style="background-image:url(file:///etc/passwd)">'
                 'x</p>')  # even markup that slipped through
    view.resize(400, 300)
    view.grab()  # lays out and paints: Qt asks for every resource now
    assert "http://example.org/tracker.png" in view.refused
    assert not view.openLinks() and not view.openExternalLinks()
    assert view.loadResource(2, QUrl("https://example.org/a.css")) is None


def test_attachments_show_and_only_they(qtbot):
    view = SafeTextBrowser()
    qtbot.addWidget(view)
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    doc = render_conversation([{"role": "user", "content": [{"type": "text", "text": "What is this rash?"},
                                                            {"type": "image_url", "image_url": {"url": data_url}}]}])
    assert list(doc.images) == ["healthqa-image:1"]
    view.show_document(doc)
    view.grab()
    assert view.refused == []  # our attachment came from the document, not a fetch
    assert "What is this rash?" in view.toPlainText()
    remote = render_conversation([{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.org/x.png"}}]}])
    assert remote.images == {} and "not an attachment" in remote.html


def test_hostile_markdown_is_shown_as_plain_text_with_a_note_and_bounded_work():
    """Issue 9 item 7: inputs that took the converter or Qt seconds to minutes go the plain-text way."""
    import time

    from ui.widgets.render_guard import MAX_SHOWN_CHARS, ZWSP

    cases = {
        "[ " * 500: "too many unmatched",
        "a" * 300_000: "very long",
        "\n".join("  " * i + "- x" for i in range(40)): "nested",
        "- " * 3_000 + "x": "nested",
        "x" * 5_000: "without a space",
    }
    for text, why in cases.items():
        started = time.perf_counter()
        html = markdown_html(text)
        assert time.perf_counter() - started < 1.0
        assert html.startswith('<p class="note">Shown as plain text: ') and why in html.split("</p>")[0]
    long_run = markdown_html("y" * 300_000)
    assert f"first {MAX_SHOWN_CHARS:,} of 300,000 characters" in long_run
    assert ZWSP in long_run  # a break opportunity: Qt lays a 300,000-character run out in n²
    literal = markdown_html("<img src=\"/dev/zero\"> & " + "[ " * 500)  # plain text: escaped too
    assert "<img" not in literal and "&lt;img" in literal and "&gt; &amp; [" in literal
    assert markdown_html("**bold** and [a](b)").startswith("<p><strong>bold</strong>")
