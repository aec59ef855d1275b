"""Review stage: flags, preview, drafts, review record and publishing."""
