-- wrk script: nearest-office queries at random points across Pennsylvania,
-- so most answers are computed rather than served from the cache.
math.randomseed(42)
request = function()
  local lat = 39.75 + math.random() * 2.2
  local lon = -80.5 + math.random() * 5.7
  return wrk.format("GET", string.format("/v1/offices/nearest?lat=%.5f&lon=%.5f&limit=5", lat, lon))
end
