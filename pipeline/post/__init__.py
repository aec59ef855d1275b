"""The post format: the Post model's parse, render, YAML style and text escaping."""
