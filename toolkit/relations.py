"""The toolkit's index as SQL relations other apps may join in their own aggregate statements
(rag's analytics): one statement per figure stays possible, while the table names, and how
chunks, versions and toolkits join, stay here. The planner inlines these subqueries, so a
query built on them is planned as if it named the tables itself.
"""

# Every chunk with its version and toolkit.
PASSAGES = """(
    SELECT c.id, c.ordinal, c.heading, c.document_id AS version_id, d.version_tag, d.is_active,
           d.toolkit_id, t.name AS toolkit
    FROM toolkit_chunks c
    JOIN toolkit_documents d ON d.id = c.document_id
    JOIN toolkits t ON t.id = d.toolkit_id
)"""

# Every version with its toolkit.
VERSIONS = """(
    SELECT d.id, d.toolkit_id, t.name AS toolkit, d.version_tag, d.is_active, d.activated_at
    FROM toolkit_documents d
    JOIN toolkits t ON t.id = d.toolkit_id
)"""
