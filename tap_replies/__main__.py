from tap_replies.cli import main

main()
