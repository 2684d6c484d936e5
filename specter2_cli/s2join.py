"""Semantic Scholar `papers` + `abstracts` datasets -> one Parquet file to embed.

The two datasets are separate gzip JSON-lines shards keyed by `corpusid`;
`abstracts` covers only some papers. DuckDB joins them out of core (the hash
join spills to --temp-dir, memory stays under --memory-limit at ~200M papers)
into Parquet with columns corpusid, title, abstract (null when the paper has
none), year, doi, arxiv. Then: `specter2 embed joined.parquet --preset s2 -o OUT`.

    python -m specter2_cli.s2join --papers 'papers/*.gz' --abstracts 'abstracts/*.gz' \\
        -o joined.parquet --memory-limit 8GB --temp-dir /scratch/duck

Needs the optional `duckdb` package: pip install 'specter2-cli[s2]'.
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import EnvironmentProblem, InputError, Specter2Error, UsageError

SQL = """
COPY (
  SELECT p.corpusid, p.title, a.abstract, p.year,
         p.externalids.DOI AS doi, p.externalids.ArXiv AS arxiv
  FROM read_json({papers}, format='newline_delimited', compression='gzip',
         columns={{corpusid: 'BIGINT', title: 'VARCHAR', year: 'INTEGER',
                  externalids: 'STRUCT(DOI VARCHAR, ArXiv VARCHAR)'}}) AS p
  LEFT JOIN read_json({abstracts}, format='newline_delimited', compression='gzip',
         columns={{corpusid: 'BIGINT', abstract: 'VARCHAR'}}) AS a
  USING (corpusid)
  WHERE p.corpusid IS NOT NULL
) TO {out} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {row_group})
"""


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def join_s2(
    papers: str,
    abstracts: str,
    out: str,
    memory_limit: str = "4GB",
    temp_dir: str | None = None,
    threads: int | None = None,
    row_group: int = 100_000,
) -> int:
    """Join the datasets (globs or files) into Parquet at `out`; returns the number of rows."""
    try:
        import duckdb
    except ImportError as e:
        raise EnvironmentProblem(
            "the S2 join needs duckdb: pip install 'specter2-cli[s2]' (or pip install duckdb)"
        ) from e
    if os.path.exists(out):
        raise UsageError(f"{out} exists; choose a new output file (it is never overwritten)")
    con = duckdb.connect()
    con.execute(f"SET memory_limit={_quote(memory_limit)}")
    con.execute(f"SET temp_directory={_quote(temp_dir or out + '.tmp')}")
    con.execute("SET preserve_insertion_order=false")  # lets COPY stream
    if threads:
        con.execute(f"SET threads={int(threads)}")
    tmp = out + ".partial"
    sql = SQL.format(
        papers=_quote(papers), abstracts=_quote(abstracts), out=_quote(tmp), row_group=row_group
    )
    try:
        con.execute(sql)
    except duckdb.Error as e:
        raise InputError(f"S2 join failed: {e}") from e
    os.replace(tmp, out)
    rows = con.execute(f"SELECT count(*) FROM read_parquet({_quote(out)})").fetchone()
    return int(rows[0]) if rows else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m specter2_cli.s2join", description=__doc__)
    ap.add_argument("--papers", required=True, help="papers shards: a file or a quoted glob")
    ap.add_argument("--abstracts", required=True, help="abstracts shards: a file or a glob")
    ap.add_argument("-o", "--output", required=True, help="Parquet file to write")
    ap.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit (default 4GB)")
    ap.add_argument("--temp-dir", help="where the join spills (default OUTPUT.tmp)")
    ap.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    a = ap.parse_args(argv)
    try:
        n = join_s2(a.papers, a.abstracts, a.output, a.memory_limit, a.temp_dir, a.threads)
    except Specter2Error as e:
        print(f"s2join: error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"s2join: wrote {n} papers to {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
