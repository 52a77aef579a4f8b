# fuzz targets: written by the conf module's owner
