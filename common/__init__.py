"""The bottom layer every package may import: shared pieces (the error hierarchy, ...) importing no other package."""
