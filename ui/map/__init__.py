"""The embedding map of the Explore tab, one job per module.

- ``methods``: what the analysis registries put on the map (projections, clusterings, scores);
- ``points``: a map's data — every point's 2-D coordinates and the fields it is coloured by
  (the arrays and their read from the store are the core's embedscope.maparrays, their files
  embedscope.mapfiles, which the analysis writes);
- ``colours``: the colourings of a map (label, split, clusters, scores, tags) and their groups;
- ``published``: maps served to the page as binary files, and the JSON descriptor it reads;
- ``selection``: a selection on the map: gallery pages, counts, export and tags;
- ``maps``: the Explore tab's decisions without the page (open, restyle, select, tag, mark);
- ``block``: the WebGL block (the JavaScript bundle built from ui/frontend, shipped in ui/static);
- ``handlers``: the Explore tab's event handlers (values in, ``{name: value}`` out);
- ``tab``: the Explore tab's layout and the wiring of its events.
"""
