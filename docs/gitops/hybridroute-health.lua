-- Argo CD health check for inferensys.io/HybridRoute (docs/gitops.md).
-- Healthy:     the operator has seen the latest spec and Ready is True.
-- Progressing: the spec is not observed yet, a canary is running, or the route is
--              becoming ready (router pods starting).
-- Suspended:   the canary is paused.
-- Degraded:    the spec cannot be applied (Reconciled False), the canary rolled back,
--              or the route is not ready and a model target has no ready endpoints.
local hs = {}

local function find(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c)
  local reason = c.reason or c.type
  if c.message ~= nil and c.message ~= "" then
    return reason .. ": " .. c.message
  end
  return reason
end

local generation = obj.metadata.generation
local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the route"
  return hs
end
if generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local ready = find(status.conditions, "Ready")
if ready == nil or (generation ~= nil and ready.observedGeneration ~= nil
    and ready.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition of generation " .. (generation or "?")
  return hs
end

local reconciled = find(status.conditions, "Reconciled")
if reconciled ~= nil and reconciled.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(reconciled)
  return hs
end
if ready.status == "False" and ready.reason == "InvalidSpec" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

local canary = status.canary
if canary ~= nil and canary.phase ~= nil then
  local phase = canary.phase
  local candidate = canary.candidate or "candidate"
  local weight = canary.weight or 0
  local note = ""
  if canary.message ~= nil and canary.message ~= "" then
    note = ": " .. canary.message
  end
  if phase == "RolledBack" then
    hs.status = "Degraded"
    hs.message = "Canary " .. candidate .. " rolled back" .. note
    return hs
  end
  if phase == "Paused" then
    hs.status = "Suspended"
    hs.message = "Canary " .. candidate .. " paused at weight " .. weight .. "%" .. note
    return hs
  end
  if phase == "Pending" or phase == "Progressing" or phase == "Promoting" then
    hs.status = "Progressing"
    hs.message = "Canary " .. candidate .. " " .. phase .. " at weight " .. weight .. "%" .. note
    return hs
  end
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end
local degraded = find(status.conditions, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(ready) .. " (" .. describe(degraded) .. ")"
  return hs
end
hs.status = "Progressing"
hs.message = describe(ready)
return hs
