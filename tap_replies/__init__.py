"""tap-replies: a Singer tap for replies to outbound sales campaigns."""
