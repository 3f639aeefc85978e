"""A year of changes to the demo county (正定县, 130123), in the civil-affairs layout.

Synthetic, like the demo's geography: a development zone (正定新区, code 130172) is created
and 曲阳桥乡 moves into it; two villages of 新安镇 merge, one splits, one is renamed.
"""

from __future__ import annotations

from pathlib import Path

DEMO_CHANGES = """原代码,原名称,变更类型,新代码,新名称,日期,份额,新上级代码,经度,纬度,备注
,,新设,130172000000,正定新区,2024-01-01,,,114.70,38.15,合成数据 synthetic
130123102204,南王庄村委会,合并,130123102204,南王于家庄村委会,2024-01-01,,,,,
130123102205,于家庄村委会,合并,130123102204,南王于家庄村委会,2024-01-01,,,,,
130123102206,东权城村委会,拆分,130123102206,东权城村委会,2024-04-01,0.55,,114.6233525,38.230839,
130123102206,东权城村委会,拆分,130123102230,东权城新村村委会,2024-04-01,0.45,,114.6150,38.2220,
130123204000,曲阳桥乡,变更隶属,,曲阳桥乡,2024-07-01,,130172000000,,,
130123102207,西权城村委会,更名,130123102207,西权城社区村委会,2024-10-01,,,,,
"""

# unknown code; split shares adding to 0.9; a rename dated before the village existed;
# a county re-parented under its own township (a cycle)
BAD_CHANGES = """原代码,原名称,变更类型,新代码,新名称,日期,份额,新上级代码
130123102299,不存在村委会,更名,130123102299,无名村,2024-01-01,,
130123102206,东权城村委会,拆分,130123102206,东权城村委会,2024-04-01,0.5,
130123102206,东权城村委会,拆分,130123102230,东权城新村村委会,2024-04-01,0.4,
130123102207,西权城村委会,更名,130123102207,西权城社区村委会,2019-06-01,,
130123000000,正定县,变更隶属,,正定县,2024-07-01,,130123204000
"""


def write(folder: Path, text: str, name: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
