"""Rewriting image references in files to their mirrored addresses, one module per format.

Rule: the format modules are pure: text in, the exact spans of each reference out
(`model.Scan`); the flow (`bot.flows.rewrite`) decides which references change and splices
the new text into those spans only.
"""
