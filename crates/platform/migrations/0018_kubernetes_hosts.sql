-- A Kubernetes cluster as a host: the kubeconfig that reaches it, sealed by the keystore
-- (`Secret::KubeConfig`; NULL: the cluster the platform runs in), where it pulls node images
-- from, and the storage class and size of the nodes' data volumes.
ALTER TABLE hosts ADD COLUMN kubeconfig TEXT;
ALTER TABLE hosts ADD COLUMN image_repository TEXT;
ALTER TABLE hosts ADD COLUMN storage_class TEXT;
ALTER TABLE hosts ADD COLUMN storage_gib INTEGER;
