"""Walking accessibility: street networks as arrays, shortest-path kernels, life circles,
floating catchments.

Modules (imported on demand; this package stays light because the table models are
imported with every other table):

``network``      :class:`~shequ.access.network.StreetNetwork` — CSR arrays, integer metres,
                 from edges or an OSM ``.osm.pbf``; save/load; snapping
``kernels``      bounded Dial bucket-queue searches: nearest facility of each type,
                 single-source catchments (compiled with Numba, equal to SciPy's)
``lifecircle``   the GB 50180 life-circle evaluator and roll-up (pure, over tables)
``store``        its adapters: the registry in, ``community_access`` rows out
``fca``          2SFCA and Gaussian E2SFCA
``isochrones``   catchment polygons as GeoJSON
``point``        the point query: what is within a walk, and what is missing
``distributed``  per-county Dask jobs with a border buffer
``models``       the ``community_access`` table
``cli``          ``shequ access …``
"""

__all__ = ["cli", "distributed", "fca", "isochrones", "kernels", "lifecircle", "models",
           "network", "point", "store"]
