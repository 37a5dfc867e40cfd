"""The pieces of a build (:func:`ctgdocs.build.build_package`): its options and result,
its record (``build.json``), its context, its steps, and ``ctg build --watch``."""
