"""Small dialogs (hand-written; nothing here blocks the workspace)."""
