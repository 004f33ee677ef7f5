"""Small source fixtures in both COVID Tracking formats."""

import gzip

import pytest

# Archive format: YYYY-MM-DD dates, newest first as the real file is.
ARCHIVE_CSV = """\
"date","state","positive","positiveIncrease","totalTestResults","totalTestResultsIncrease","negative","deathIncrease"
"2020-04-05","VT",40,15,400,150,,1
"2020-04-04","VT",25,10,250,100,,0
"2020-04-03","VT",15,5,150,50,,2
"2020-04-02","VT",10,10,100,100,,0
"2020-04-01","VT",,0,0,0,,0
"2020-04-05","NH",9,3,90,10,81,0
"2020-04-04","NH",6,-1,80,30,74,0
"2020-04-03","NH",7,7,50,50,43,0
"""

# v1 API format: integer YYYYMMDD dates, `total` but no totalTestResults.
V1_CSV = """\
date,state,positive,negative,total,death
20200405,VT,40,360,400,3
20200404,VT,25,225,250,2
20200403,VT,15,135,150,2
20200402,VT,10,90,100,0
"""


@pytest.fixture
def archive_bytes() -> bytes:
    return ARCHIVE_CSV.encode()


@pytest.fixture
def v1_bytes() -> bytes:
    return V1_CSV.encode()


@pytest.fixture
def archive_gz(tmp_path):
    path = tmp_path / "archive.csv.gz"
    path.write_bytes(gzip.compress(ARCHIVE_CSV.encode(), mtime=0))
    return path
