from tap_replies.tap import TapReplies

TapReplies.cli()
