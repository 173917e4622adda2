-- Queue policies (the Policy queue attribute), stored exactly as written.
ALTER TABLE queues ADD COLUMN policy text;
